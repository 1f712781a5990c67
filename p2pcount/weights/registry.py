"""Named models: where their weights come from, and the local cache that holds them.

A name (``shtech-a``) resolves to a ``.safetensors`` file in the cache, fetched on first
use: the original file is downloaded, verified against its git blob id (so no server has
to be trusted), converted to p2pcount's format and cached. The cache lives under
``$P2PCOUNT_HOME`` (default ``~/.cache/p2pcount``):

* ``downloads/<file>`` — the verified original file, exactly as published;
* ``models/<name>.safetensors`` — the converted weights that p2pcount loads.

Bundled models ship in the repository's ``weights/`` folder and need no download.
"""

from __future__ import annotations

import os
import site
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from p2pcount.errors import DownloadError, WeightsError
from p2pcount.weights.download import Expected, download, git_blob_sha1

#: The model used when neither ``--weights`` nor ``P2PCOUNT_WEIGHTS`` names one.
DEFAULT_MODEL = "shtech-a"

#: Where bundled models are looked for, in order: the source tree's ``weights/`` folder (a
#: clone or an editable install), then the data files of an installed wheel
#: (``<prefix>/share/p2pcount/weights``, see pyproject.toml; prefix or ``pip --user`` base).
BUNDLED_DIRS = (
    Path(__file__).resolve().parents[2] / "weights",
    Path(sys.prefix) / "share" / "p2pcount" / "weights",
    Path(site.getuserbase()) / "share" / "p2pcount" / "weights",
)


@dataclass(frozen=True)
class ModelEntry:
    """A named model.

    Attributes:
        name: what users type after ``--weights``.
        description: one line about the model.
        backbone: ``vgg16`` or ``vgg16_bn``.
        licence: the terms under which the weights may be used.
        accuracy: reported figures, as published.
        url: download address of the original file (None for bundled models).
        filename: name of the downloaded file.
        expected: its size and hash.
        bundled: file name under ``weights/`` for models shipped with p2pcount.
    """

    name: str
    description: str
    backbone: str
    licence: str
    accuracy: str
    url: str | None = None
    filename: str | None = None
    expected: Expected | None = None
    bundled: str | None = None


REGISTRY: dict[str, ModelEntry] = {
    "shtech-a": ModelEntry(
        name="shtech-a",
        description="the original P2PNet release's model, trained on ShanghaiTech part A",
        backbone="vgg16_bn",
        licence=(
            "the original P2PNet release (TencentYoutuResearch/CrowdCounting-P2PNet): "
            "redistribution and use for academic research only, with its copyright notice"
        ),
        accuracy="ShanghaiTech A: MAE 51.96 (checkpoint), paper 52.74 / MSE 85.06",
        url="https://github.com/TencentYoutuResearch/CrowdCounting-P2PNet/raw/main/weights/SHTechA.pth",
        filename="SHTechA.pth",
        expected=Expected(size=None, git_blob_sha1="e22d01a7e29cbb6db61af5211b8b1a00cdcf7e71"),
    ),
    "synthetic-demo": ModelEntry(
        name="synthetic-demo",
        description=(
            "trained by p2pcount on generated synthetic crowds (scripts/train_synthetic_demo.sh, "
            "then scripts/train_synthetic_demo_v2.sh for noise and other looks); knows synthetic "
            "scenes only, not real photos"
        ),
        backbone="vgg16_bn",
        licence="MIT, as p2pcount",
        accuracy="see README (held-out synthetic test set)",
        bundled="synthetic-demo.safetensors",
    ),
}

Notify = Callable[[str], None]
ProgressFactory = Callable[[str], Callable[[int, int], None]]


def get_entry(name: str) -> ModelEntry:
    """The registry entry called ``name``; :class:`WeightsError` listing the known names."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise WeightsError(f"{name}: unknown model (known: {', '.join(sorted(REGISTRY))})")
    return entry


def home() -> Path:
    """The cache root: ``$P2PCOUNT_HOME`` or ``~/.cache/p2pcount``."""
    root = os.environ.get("P2PCOUNT_HOME")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "p2pcount"


def model_path(entry: ModelEntry) -> Path:
    """Where the weights p2pcount loads for ``entry`` live (bundled file or cache)."""
    if entry.bundled:
        candidates = [folder / entry.bundled for folder in BUNDLED_DIRS]
        return next((path for path in candidates if path.is_file()), candidates[0])
    return home() / "models" / f"{entry.name}.safetensors"


def download_path(entry: ModelEntry) -> Path:
    """Where the original file of ``entry`` is kept once downloaded and verified."""
    return home() / "downloads" / (entry.filename or entry.name)


def is_present(entry: ModelEntry) -> bool:
    return model_path(entry).is_file() or (not entry.bundled and download_path(entry).is_file())


def resolve_weights(
    spec: str | None,
    *,
    notify: Notify | None = None,
    progress: ProgressFactory | None = None,
) -> Path:
    """A weights file for ``spec``: an existing path, a registry name, or None (the default).

    A registry model not yet cached is fetched (see :func:`fetch`). Raises
    :class:`WeightsError` for an unknown name or missing file, :class:`DownloadError` when
    a download fails.
    """
    entry = _named(spec)
    if isinstance(entry, Path):
        return entry
    return fetch(entry, notify=notify, progress=progress)


def resolve_local_weights(spec: str) -> Path:
    """Like :func:`resolve_weights`, never downloading: a registry model must be in the
    cache already (:class:`WeightsError` saying how to fetch it otherwise)."""
    entry = _named(spec)
    if isinstance(entry, Path):
        return entry
    path = model_path(entry)
    if not path.is_file():
        raise WeightsError(f"{spec}: not in the cache yet; run `p2pcount weights fetch {spec}`")
    return path


def _named(spec: str | None) -> Path | ModelEntry:
    """The existing file ``spec`` names, else its registry entry (None: the default)."""
    if spec is None:
        spec = DEFAULT_MODEL
    if os.path.exists(spec):  # False, not an error, for a path that cannot be checked
        return Path(spec)
    if spec not in REGISTRY and any(c in spec for c in "/\\."):
        raise WeightsError(f"{spec}: no such file")
    return get_entry(spec)


def fetch(
    entry: ModelEntry, *, notify: Notify | None = None, progress: ProgressFactory | None = None
) -> Path:
    """Make ``entry``'s weights present in the cache and return their path.

    The original file is downloaded (unless already in ``downloads/``), verified,
    converted to safetensors and cached; ``notify`` receives the licence text once, when
    it is downloaded.
    """
    target = model_path(entry)
    if target.is_file():
        return target
    if entry.bundled:
        raise WeightsError(f"{target}: bundled model {entry.name!r} is missing from this install")
    assert entry.url and entry.expected  # registry entries without bundled have both
    original = download_path(entry)
    if not original.is_file():
        if notify:
            notify(f"downloading {entry.name} from {entry.url}")
            notify(f"licence of {entry.name}: {entry.licence}")
        callback = progress(entry.name) if progress else None
        try:
            download(entry.url, original, entry.expected, progress=callback)
        except DownloadError as exc:
            raise DownloadError(
                f"model {entry.name!r}: download failed: {exc}. Either pass --weights PATH, "
                f"or put {entry.filename} (from {entry.url}) at {original}"
            ) from None
        finally:
            getattr(callback, "close", lambda: None)()
    else:
        _verify_local(entry, original)
    return convert_to_cache(entry, original)


def _verify_local(entry: ModelEntry, path: Path) -> None:
    expected = entry.expected
    if expected is None or expected.git_blob_sha1 is None:
        return
    actual = git_blob_sha1(path)
    if actual != expected.git_blob_sha1:
        raise WeightsError(
            f"{path}: git blob id {actual} does not match {entry.name}'s "
            f"{expected.git_blob_sha1}; delete the file or pass --weights PATH"
        )


def convert_to_cache(entry: ModelEntry, original: Path) -> Path:
    """Convert a verified original file to safetensors at :func:`model_path`."""
    from p2pcount.weights.checkpoint import build_model, read_weights, save_weights

    model = build_model(read_weights(original))
    meta = {"name": entry.name, "origin": entry.url or "", "licence": entry.licence}
    return save_weights(model_path(entry), model, metadata=meta)
