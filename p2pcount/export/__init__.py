"""Exporting a model for other runtimes (ONNX, TorchScript, ncnn)."""
