"""Weights files: p2pcount's safetensors, the original release's checkpoints, named models and
their download."""
