"""Results as users get them: records, stdout writers, overlays and their files. No torch."""
