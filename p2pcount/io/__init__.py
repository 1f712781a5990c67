"""Reading inputs: image files, the expansion of command-line inputs, and atomic file writes.
No torch."""
