"""Annotated datasets and the synthetic crowd generator. No torch."""
