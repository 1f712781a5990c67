"""The dataset layouts p2pcount reads, by name. Imports nothing (the command line lists
them in --help); :mod:`p2pcount.data.datasets` reads them."""

#: Dataset layouts, in the order their detection tries them.
FORMATS = ("list", "shanghaitech", "nwpu", "jhu", "folder")
