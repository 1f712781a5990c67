"""The cache of ncnn models built from weights files, under ``$P2PCOUNT_HOME/ncnn/``.

One folder per weights file, named by the file's SHA-256, the ncnn version and
:data:`WRITER_VERSION` (a new ncnn or a new writer builds anew)::

    ncnn/<sha256>-ncnn<version>-w<writer>/
        model.param   the graph (text)
        model.bin     the weights
        entry.json    the model's config, receptive field, the SHA-256 of model.param, the
                      size of model.bin and the accuracy guard's verdict; written last

Every file is written atomically. An entry is trusted only when ``entry.json`` reads, its
param's hash and its bin's size match: anything else (a missing, truncated or edited
file) reads as no entry, and the model is built again. This module imports neither torch
nor ncnn.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from p2pcount.errors import ConfigError
from p2pcount.infer.backends.ncnn_model import NcnnModel
from p2pcount.io.atomic import atomic_path
from p2pcount.model.config import ModelConfig
from p2pcount.weights.registry import home

#: Version of the graph :mod:`~p2pcount.infer.backends.ncnn_model` writes; part of every
#: entry's name, so that a changed writer never reads an old entry.
WRITER_VERSION = 1
PARAM, BIN, ENTRY = "model.param", "model.bin", "entry.json"


@dataclass(frozen=True)
class Verdict:
    """The accuracy guard's: the largest differences between ncnn's raw maps and PyTorch's
    on the probe image, each divided by max(1, the largest magnitude of PyTorch's map).

    Attributes:
        offsets_error, logits_error: those differences.
        agrees: both within tolerance (1e-3 for offsets, 1e-2 for logits).
    """

    offsets_error: float
    logits_error: float
    agrees: bool


@dataclass(frozen=True)
class CacheEntry:
    """A cached ncnn model, checked when read.

    Attributes:
        folder: the entry's folder.
        config: the network's config.
        receptive_field: of one output cell, pixels.
        verdict: the accuracy guard's, from when the model was built.
    """

    folder: Path
    config: ModelConfig
    receptive_field: int
    verdict: Verdict

    @property
    def param(self) -> Path:
        return self.folder / PARAM

    @property
    def weights(self) -> Path:
        return self.folder / BIN


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def entry_folder(weights_sha256: str, ncnn_version: str) -> Path:
    """Where the ncnn model of the weights file with this hash lives, for this ncnn."""
    return home() / "ncnn" / f"{weights_sha256}-ncnn{ncnn_version}-w{WRITER_VERSION}"


def read_entry(folder: Path) -> CacheEntry | None:
    """The entry in ``folder``, or None when there is none or it is not intact."""
    try:
        record = json.loads((folder / ENTRY).read_text(encoding="utf-8"))
        intact = (
            record["param_sha256"] == file_sha256(folder / PARAM)
            and record["bin_size"] == (folder / BIN).stat().st_size
        )
        entry = CacheEntry(
            folder=folder,
            config=ModelConfig.from_json(record["config"]),
            receptive_field=int(record["receptive_field"]),
            verdict=Verdict(**record["verdict"]),
        )
    except (OSError, ValueError, KeyError, TypeError, ConfigError):
        return None
    return entry if intact else None


def write_model(folder: Path, model: NcnnModel) -> None:
    """Write ``model``'s ``model.param`` and ``model.bin`` into ``folder`` (created), each
    atomically; the entry is not complete until :func:`write_record`. Raises OSError when
    the cache cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in ((PARAM, model.param.encode("utf-8")), (BIN, model.weights)):
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)


def write_record(
    folder: Path, model: NcnnModel, config: ModelConfig, receptive_field: int, verdict: Verdict
) -> CacheEntry:
    """Complete the entry of ``model`` (written by :func:`write_model`) with its record,
    atomically. Raises OSError when the cache cannot be written."""
    record = {
        "config": config.to_json(),
        "receptive_field": receptive_field,
        "param_sha256": hashlib.sha256(model.param.encode("utf-8")).hexdigest(),
        "bin_size": len(model.weights),
        "verdict": asdict(verdict),
    }
    with atomic_path(folder / ENTRY) as tmp:
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return CacheEntry(folder, config, receptive_field, verdict)
