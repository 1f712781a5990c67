"""One epoch of training: the optimization step (forward under autocast, decode, match and
loss, scaled backward, gradient clipping), the loop over the loader's batches, the
divergence checks and the validation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from p2pcount.data.datasets import Sample
from p2pcount.errors import ImageError, TrainingError
from p2pcount.evaluate.evaluation import evaluate
from p2pcount.infer.counter import Counter
from p2pcount.model.anchors import PointDecoder, flatten_proposals
from p2pcount.model.network import P2PNet
from p2pcount.train.config import StepInfo, TrainConfig
from p2pcount.train.loss import P2PLoss

DIVERGED = "the model's outputs or weights are not finite (training diverged: lower --lr)"
#: The loss terms an epoch averages (``loss_point`` in px² per ground-truth point).
LOSS_TERMS = ("loss", "loss_class", "loss_point")


@dataclass(frozen=True)
class TrainStep:
    """One optimization step, called with a batch of crops: images (B, 3, S, S) float32 in
    [0, 1] and B point tensors (M_j, 2) in crop pixels; returns the loss terms as floats.

    ``net`` is ``model`` itself or its DDP wrapper; ``autocast_dtype`` None runs in float32.
    Raises :class:`TrainingError` when the network's outputs are not finite.
    """

    net: torch.nn.Module
    model: P2PNet
    decoder: PointDecoder
    criterion: P2PLoss
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    autocast_dtype: torch.dtype | None
    clip_norm: float

    def __call__(self, images: torch.Tensor, targets: list[torch.Tensor]) -> dict[str, float]:
        images = images.to(self.device, non_blocking=True)
        targets = [t.to(self.device, non_blocking=True) for t in targets]
        with torch.autocast(
            self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None
        ):
            offsets, logits = self.net(images)
        offsets, logits = offsets.float(), logits.float()
        if not (torch.isfinite(offsets).all() and torch.isfinite(logits).all()):
            raise TrainingError(DIVERGED)
        points, flat_logits = flatten_proposals(self.decoder(offsets, logits).points, logits)
        losses = self.criterion(points, flat_logits, targets)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return {k: float(v.detach()) for k, v in losses.items() if k != "num_points"}


def set_learning_rates(optimizer: torch.optim.Optimizer, rates: tuple[float, float]) -> None:
    """Set the (head and neck, backbone) learning rates of the optimizer's two groups."""
    for group, lr in zip(optimizer.param_groups, rates, strict=True):
        group["lr"] = lr


def train_epoch(
    loader: DataLoader,
    step: Callable[[torch.Tensor, list[torch.Tensor]], dict[str, float]],
    epoch: int,
    epochs: int,
    on_step: Callable[[StepInfo], None] | None = None,
) -> dict[str, float]:
    """Run ``step`` on each batch of ``loader`` in ``epoch`` (counted from 0 of ``epochs``);
    returns the mean of each of :data:`LOSS_TERMS` over the steps. A batch that is an
    :class:`ImageError` (an image that could not be decoded) is raised; a
    :class:`TrainingError` is raised again with the epoch and step in front."""
    steps = len(loader)
    sums = dict.fromkeys(LOSS_TERMS, 0.0)
    for index, batch in enumerate(loader):
        if isinstance(batch, ImageError):
            raise batch
        try:
            losses = step(*batch)
        except TrainingError as exc:
            raise TrainingError(f"epoch {epoch + 1}, step {index + 1}: {exc}") from None
        for key in sums:
            sums[key] += losses[key]
        if on_step:
            on_step(StepInfo(epoch + 1, epochs, index + 1, steps, losses["loss"]))
    return {k: v / max(steps, 1) for k, v in sums.items()}


def check_finite(model: torch.nn.Module, epoch: int) -> None:
    """Raise :class:`TrainingError` after ``epoch`` (counted from 0) if a weight is not finite."""
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise TrainingError(f"epoch {epoch + 1}: {DIVERGED}")


def validate(
    model: P2PNet, device: torch.device, config: TrainConfig, samples: Sequence[Sample]
) -> dict[str, float]:
    """Count errors (MAE and root-mean-square "MSE", in heads per image) and localization
    (precision, recall, F1 of the points kept at ``config.threshold`` matched within
    ``config.radius`` pixels) of ``model`` on ``samples``. Counting puts the model in eval
    mode; afterwards every module is back in the mode it was in (frozen blocks stay in eval
    mode, the rest trains)."""
    modes = [module.training for module in model.modules()]
    counter = Counter(model, device, precision=config.precision)
    report = evaluate(counter, samples, config.threshold, config.radius, with_nap=False)
    for module, training in zip(model.modules(), modes, strict=True):
        module.train(training)
    loc = report.localization
    return {
        "mae": report.mae,
        "mse": report.mse,
        "precision": loc.precision,
        "recall": loc.recall,
        "f1": loc.f1,
    }
