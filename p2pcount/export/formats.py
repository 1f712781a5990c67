"""What ``export`` can write, by name, and the file suffix that names each. No torch here
(the command line lists them in --help)."""

#: Export formats.
EXPORT_FORMATS = ("onnx", "torchscript")

#: What the exported graph returns: decoded ``points`` and scores, or the ``raw`` maps.
OUTPUTS = ("points", "raw")

#: The format a file suffix stands for.
SUFFIX_FORMATS = {".onnx": "onnx", ".pt": "torchscript"}
