"""Counting: the Counter, tiling, the threaded batcher, devices and precisions, and torchrun
sharding."""
