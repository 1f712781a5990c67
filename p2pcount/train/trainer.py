"""Training P2PNet: the original release's recipe, resumable, on CPU, CUDA or many processes.

Per step: a batch of images, each giving several random crops (see :mod:`p2pcount.train.augment`),
goes through the network; the Hungarian matcher pairs ground-truth heads with proposals and
:class:`~p2pcount.train.loss.P2PLoss` scores them. Adam with a lower learning rate for the
backbone, gradient clipping, a step learning-rate schedule (the release's StepLR: both rates
times ``lr_gamma`` every ``lr_drop`` epochs), mixed precision (bf16 on CPUs with native bf16,
fp16 on CUDA); optionally the backbone's first VGG blocks fixed
(:mod:`p2pcount.train.freezing`).

The :class:`Trainer` ties the run together: it is set up by :mod:`p2pcount.train.setup`,
trains each epoch with :mod:`p2pcount.train.loop`, and keeps the run's files. Written in the
output directory (by rank 0 only under torchrun):

* ``last.safetensors`` — the weights after the latest epoch (config in the metadata);
* ``best.safetensors`` — the weights with the lowest validation MAE so far;
* ``state.pt`` — model, optimizer, scaler, epoch and best MAE, for ``--resume``; written
  at the start and after every epoch, so a run interrupted with Ctrl-C resumes from the
  start of the interrupted epoch;
* ``log.jsonl`` — one JSON object per epoch: losses, learning rates, time, validation.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist

from p2pcount.data.datasets import Sample
from p2pcount.errors import ConfigError, TrainingError, WeightsError, first_line
from p2pcount.infer.device import resolve_device, resolve_precision
from p2pcount.infer.distributed import DistInfo, init_distributed
from p2pcount.io.atomic import atomic_path
from p2pcount.model.anchors import PointDecoder
from p2pcount.model.config import ModelConfig
from p2pcount.train.config import EpochRecord, StepInfo, TrainConfig
from p2pcount.train.freezing import freeze, train_mode
from p2pcount.train.loop import (
    DIVERGED,
    TrainStep,
    check_finite,
    set_learning_rates,
    train_epoch,
    validate,
)
from p2pcount.train.setup import (
    BEST_FILE,
    LAST_FILE,
    LOG_FILE,
    STATE_FILE,
    check_epochs_left,
    check_fresh,
    distribute,
    make_criterion,
    make_loader,
    make_optimizer,
    make_output_dir,
    read_state,
    readable,
    restore,
    resumed_config,
    starting_model,
)
from p2pcount.weights.checkpoint import save_weights


class Trainer:
    """One training run; see the module docstring for what it writes.

    Args:
        train_samples: annotated training images.
        output_dir: where checkpoints and logs go.
        config: hyper-parameters.
        model_config: the architecture to train (backbone, anchors, offset scale).
        val_samples: validation images (best checkpoint by their MAE), or None.
        backbone_weights: ``imagenet``, ``none`` or a PATH (ignored when resuming).
        resume: continue from ``output_dir/state.pt``.
        init_weights: start the whole model from this checkpoint instead (fine-tuning; its
            architecture is used); ignored when resuming.
        given: on resume, the names of the ``config`` fields the caller chose; the others
            keep the resumed run's values (None: every field was chosen, except ``augment``
            when None). See :func:`~p2pcount.train.setup.resumed_config`.

    ``backbone_origin`` says how the run's backbone was first initialized (kept in its
    state and checkpoints); ``weights_origin`` where this run's starting weights come from
    (the same, the ``init_weights`` file, or the resumed state and its epoch).
    ``start_epoch`` counts the epochs already done; ``net`` is ``model`` or, under
    torchrun, its DDP wrapper.
    """

    def __init__(
        self,
        train_samples: Sequence[Sample],
        output_dir: Path,
        config: TrainConfig,
        model_config: ModelConfig,
        val_samples: Sequence[Sample] | None = None,
        backbone_weights: str = "none",
        resume: bool = False,
        init_weights: str | None = None,
        given: Collection[str] | None = None,
    ) -> None:
        # The order matters: the seeded random generator is drawn by the model's set-up.
        self.output_dir = Path(output_dir)
        self.state_path = self.output_dir / STATE_FILE
        saved = read_state(self.state_path) if resume else None
        self.config = config = resumed_config(config, saved, self.state_path, given)
        if saved is not None:
            check_epochs_left(saved, self.state_path, config.epochs)
        self.dist: DistInfo = init_distributed(resolve_device(config.device))
        self.device = self.dist.device
        self.autocast_dtype = resolve_precision(config.precision, self.device)
        self.val_samples = readable(val_samples or []) if self.dist.is_main else []
        torch.manual_seed(config.seed + self.dist.rank)

        if saved is None:
            check_fresh(self.output_dir)
        start = starting_model(model_config, saved, self.state_path, init_weights, backbone_weights)
        self.model = start.model
        self.backbone_origin = start.backbone_origin
        self.weights_origin = start.weights_origin
        self.model.to(self.device)
        freeze(self.model, config.frozen_blocks)  # before DDP, which hooks trainable weights
        self.optimizer = make_optimizer(self.model, config)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.autocast_dtype == torch.float16
        )
        self.start_epoch, self.best_mae = 0, math.inf
        if saved is not None:
            self.start_epoch, self.best_mae = restore(
                saved, self.state_path, self.model, self.optimizer, self.scaler
            )
            if self.dist.is_main:
                _trim_log(self.output_dir / LOG_FILE, self.start_epoch)
        self.net = distribute(self.model, self.dist)
        self.dataset, self.batches, self.loader = make_loader(
            train_samples, config, self.model.config, self.dist
        )
        self.criterion = make_criterion(config)
        self.decoder = PointDecoder(self.model.config)
        self._step = TrainStep(
            self.net,
            self.model,
            self.decoder,
            self.criterion,
            self.optimizer,
            self.scaler,
            self.device,
            self.autocast_dtype,
            config.clip_norm,
        )
        if self.dist.is_main:
            make_output_dir(self.output_dir)

    def state(self, epoch: int) -> dict:
        """What ``state.pt`` holds after ``epoch`` epochs: model, optimizer and scaler state
        dicts, the epoch, the best validation MAE, and how the backbone and both configs
        were set (checked on resume by :func:`~p2pcount.train.setup.read_state`)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "best_mae": self.best_mae,
            "backbone_origin": self.backbone_origin,
            "train_config": json.dumps(asdict(self.config)),
            "model_config": self.model.config.to_json(),
        }

    def step(self, images: torch.Tensor, targets: list[torch.Tensor]) -> dict[str, float]:
        """One optimization step on a batch of crops; returns the loss terms (see
        :class:`~p2pcount.train.loop.TrainStep`)."""
        return self._step(images, targets)

    def validate(self) -> dict[str, float]:
        """MAE, MSE and localization of the current weights on the validation images; each
        module is left in the mode it was in (see :func:`~p2pcount.train.loop.validate`)."""
        return validate(self.model, self.device, self.config, self.val_samples)

    def run(
        self,
        on_step: Callable[[StepInfo], None] | None = None,
        on_epoch: Callable[[EpochRecord], None] | None = None,
    ) -> list[EpochRecord]:
        """Train from the start (or resumed) epoch to ``config.epochs``."""
        records = []
        if self.dist.is_main and self.start_epoch == 0:
            # A resumable state from the very start: Ctrl-C at any time leaves the state of
            # the last epoch boundary (written atomically after every epoch).
            _save_state(self.state_path, self.state(self.start_epoch))
        for epoch in range(self.start_epoch, self.config.epochs):
            records.append(self._epoch(epoch, on_step))
            if on_epoch and self.dist.is_main:
                on_epoch(records[-1])
        return records

    def _epoch(self, epoch: int, on_step: Callable[[StepInfo], None] | None) -> EpochRecord:
        """Train epoch ``epoch`` (counted from 0), validate, and save the run's files."""
        train_mode(self.model, self.config.frozen_blocks)
        set_learning_rates(self.optimizer, self.config.learning_rates(epoch))
        self.batches.set_epoch(epoch)
        self.dataset.set_epoch(epoch)
        started = time.perf_counter()
        on_step = on_step if self.dist.is_main else None
        means = train_epoch(self.loader, self.step, epoch, self.config.epochs, on_step)
        record = EpochRecord(
            epoch=epoch + 1,
            seconds=time.perf_counter() - started,
            lr=self.optimizer.param_groups[0]["lr"],
            lr_backbone=self.optimizer.param_groups[1]["lr"],
            **means,
        )
        check_finite(self.model, epoch)  # nothing of a diverged epoch is saved
        if self.dist.is_main:
            last_epoch = epoch + 1 == self.config.epochs
            if self.val_samples and ((epoch + 1) % self.config.val_every == 0 or last_epoch):
                record.val = self.validate()
                if record.val["mae"] < self.best_mae:
                    self.best_mae = record.val["mae"]
                    record.best = True
            self._save(record)
        if self.dist.enabled:
            dist.barrier()
        return record

    def _save(self, record: EpochRecord) -> None:
        """The files after epoch ``record.epoch``: weights, the log, then the state."""
        meta = {"epoch": str(record.epoch), "backbone_init": self.backbone_origin}
        save_weights(self.output_dir / LAST_FILE, self.model, metadata=meta)
        if record.best or not self.val_samples:
            save_weights(self.output_dir / BEST_FILE, self.model, metadata=meta)
        # The log first: if the state is not written, resuming redoes the epoch and
        # _trim_log drops its record.
        _append_log(self.output_dir / LOG_FILE, record)
        _save_state(self.state_path, self.state(record.epoch))


def _save_state(path: Path, payload: dict) -> None:
    try:
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot write training state ({exc.strerror or exc})") from None


def _append_log(path: Path, record: EpochRecord) -> None:
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(asdict(record), allow_nan=False) + "\n")
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot write the training log ({exc.strerror or exc})"
        ) from None
    except ValueError:  # allow_nan=False
        raise TrainingError(f"epoch {record.epoch}: {DIVERGED}") from None


def _trim_log(path: Path, epoch: int) -> None:
    """Drop the log records after ``epoch`` (written before an interruption left the state
    at ``epoch``), so that a resumed run logs each epoch once."""
    if not path.is_file():
        return
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if json.loads(line).get("epoch", 0) <= epoch]
        if len(kept) < len(lines):
            with atomic_path(path) as tmp:
                tmp.write_text("".join(kept), encoding="utf-8")
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot read the training log ({first_line(exc)})") from None
