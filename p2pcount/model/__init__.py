"""The network: its config, the P2PNet modules, anchors and decoding, batch-norm folding."""
