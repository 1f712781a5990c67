"""Small training runs for tests: a few tiny synthetic scenes and the `p2pcount train`
arguments of a one-epoch CPU run on them (random-init backbone, fp32, one process)."""

from __future__ import annotations

from pathlib import Path

from p2pcount.data.synthetic import write_dataset


def tiny_scenes(root: Path) -> Path:
    """6 synthetic scenes of 64-96 px with up to 10 people each (seed 4), under ``root``."""
    return write_dataset(root, count=6, seed=4, min_size=64, max_size=96, max_people=10)


def cli_train_args(dataset: Path, batch_size: int = 3) -> list[str]:
    """`p2pcount train DATASET` for 1 epoch of ``batch_size`` images a step, one 32 px crop
    each, on the CPU in fp32; add ``-o`` and the options under test."""
    return [
        "train", str(dataset), "--epochs", "1", "--batch-size", str(batch_size),
        "--crops-per-image", "1", "--crop-size", "32", "--workers", "0",
        "--backbone-weights", "none", "--device", "cpu", "--precision", "fp32",
    ]  # fmt: skip
