"""Inference backends: what runs the network's forward pass, one module per backend.

:mod:`~p2pcount.infer.backends.base` defines the interface (it imports neither torch nor
a backend's runtime, so a torch-free backend can build on it);
:mod:`~p2pcount.infer.backends.torch` runs the network with PyTorch. Reading images,
tiling, decoding and results stay in :class:`~p2pcount.infer.counter.Counter`, the same for
every backend.
"""
