"""Evaluation: counting and localization metrics over an annotated dataset."""
