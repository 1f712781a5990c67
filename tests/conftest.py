"""Shared fixtures: small random-init weights files and a model with known outputs."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from p2pcount.model.config import ModelConfig
from p2pcount.model.network import P2PNet
from p2pcount.weights.checkpoint import save_weights


def constant_model(logit: float, offset: float = 0.0, backbone: str = "vgg16") -> P2PNet:
    """A P2PNet whose heads output a constant: every logit = ``logit``, every offset = ``offset``.

    Its points are the anchors moved by ``offset × offset_scale`` px, its scores
    sigmoid(logit), whatever the image: counts can be computed by hand.
    """
    torch.manual_seed(0)
    model = P2PNet(ModelConfig(backbone=backbone))
    with torch.no_grad():
        for head, value in ((model.classification, logit), (model.regression, offset)):
            head.output.weight.zero_()
            head.output.bias.fill_(value)
    return model.eval()


def random_model(backbone: str = "vgg16", seed: int = 3) -> P2PNet:
    """Random weights, batch-norm statistics too, and heads scaled so that the maps reach
    magnitudes of about 1 (random VGGs shrink their activations to about 0.03)."""
    torch.manual_seed(seed)
    model = P2PNet(ModelConfig(backbone=backbone)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
        for head in (model.regression, model.classification):
            head.output.weight.mul_(50.0)
    return model


def default_sigint() -> None:
    """``preexec_fn`` of a subprocess that a test stops with SIGINT (Ctrl-C): a test run
    started in the background by a non-interactive shell (``pytest &``, ``nohup``) inherits
    SIGINT ignored, and Python leaves an ignored SIGINT ignored, so the child would never
    see Ctrl-C; restore the default so that it installs its KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="session", autouse=True)
def p2pcount_home(tmp_path_factory: pytest.TempPathFactory):
    """$P2PCOUNT_HOME is a folder of the test session's (the ncnn models built for the
    tests' weights are cached there, once each), never the user's ~/.cache/p2pcount;
    subprocesses inherit it. Tests that need another home set their own."""
    home = tmp_path_factory.mktemp("p2pcount-home")
    before = os.environ.get("P2PCOUNT_HOME")
    os.environ["P2PCOUNT_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("P2PCOUNT_HOME", None)
    else:
        os.environ["P2PCOUNT_HOME"] = before


def cached(weights: Path) -> Path:
    """``weights``, its ncnn model built into the session's cache now, so that no test's
    output depends on whether it was the first to count with them (the first count of new
    weights says it builds the model)."""
    from p2pcount.infer.backends.selection import load_backend

    load_backend(weights, "ncnn", "cpu")
    return weights


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def random_weights(weights_dir: Path) -> Path:
    """A random-init vgg16 P2PNet in p2pcount's safetensors format."""
    torch.manual_seed(1)
    return cached(save_weights(weights_dir / "random.safetensors", P2PNet(ModelConfig())))


@pytest.fixture(scope="session")
def all_heads_weights(weights_dir: Path) -> Path:
    """Every anchor is a person with probability sigmoid(2) ≈ 0.88; points on the anchors."""
    return cached(save_weights(weights_dir / "all.safetensors", constant_model(logit=2.0)))


@pytest.fixture
def deny_listing(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """``deny_listing(folder)`` makes listing ``folder`` fail with "Permission denied".

    Tests run as root, which can list any folder whatever its mode, so the error is
    simulated at ``os.scandir``; every other folder is listed as usual.
    """
    scandir = os.scandir
    denied: set[Path] = set()

    def guarded(path=".", *args, **kwargs):
        if Path(path) in denied:
            raise PermissionError(13, "Permission denied")
        return scandir(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", guarded)
    return denied.add
