"""What ``export`` can write, by name, and the file suffix that names each. No torch here
(the command line lists them in --help)."""

from pathlib import Path

#: Export formats.
EXPORT_FORMATS = ("onnx", "torchscript", "ncnn")

#: What the exported graph returns: decoded ``points`` and scores, or the ``raw`` maps.
OUTPUTS = ("points", "raw")

#: The format a file suffix stands for.
SUFFIX_FORMATS = {".onnx": "onnx", ".pt": "torchscript", ".param": "ncnn"}

#: Formats whose graph ends at the raw maps (decoding is the caller's): their default outputs.
RAW_ONLY = ("ncnn",)


def exported_files(path: Path, fmt: str) -> list[Path]:
    """Every file an export of ``fmt`` to ``path`` writes: ``path`` itself, and for ncnn its
    weights (``.bin``) and its description (``.json``) beside it."""
    if fmt == "ncnn":
        return [path, path.with_suffix(".bin"), path.with_suffix(".json")]
    return [path]
