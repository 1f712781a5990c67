"""Limits on what is read. Imports nothing (the command line reads them for --help)."""

#: Default limit on decoded pixels per image (``--max-pixels``); it replaces Pillow's
#: decompression-bomb check.
DEFAULT_MAX_PIXELS = 300_000_000
