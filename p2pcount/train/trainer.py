"""Training P2PNet: the original release's recipe, resumable, on CPU, CUDA or many processes.

Per step: a batch of images, each giving several random crops (see :mod:`p2pcount.train.augment`),
goes through the network; the Hungarian matcher pairs ground-truth heads with proposals and
:class:`~p2pcount.loss.P2PLoss` scores them. Adam with a lower learning rate for the backbone,
gradient clipping, a step learning-rate schedule (the release's StepLR: both rates times
``lr_gamma`` every ``lr_drop`` epochs), mixed precision (bf16 on CPUs with native bf16,
fp16 on CUDA).

Files written in the output directory (by rank 0 only under torchrun):

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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from p2pcount.data.datasets import Sample
from p2pcount.errors import (
    ConfigError,
    DatasetError,
    ImageError,
    TrainingError,
    WeightsError,
    first_line,
)
from p2pcount.evaluate.evaluation import evaluate
from p2pcount.infer.counter import Counter
from p2pcount.infer.device import resolve_device, resolve_precision
from p2pcount.infer.distributed import DistInfo, init_distributed
from p2pcount.io.atomic import atomic_path
from p2pcount.io.images import load_image
from p2pcount.model.anchors import PointDecoder, flatten_proposals
from p2pcount.model.config import ModelConfig
from p2pcount.model.network import P2PNet
from p2pcount.output.writers import plural
from p2pcount.train.augment import AugmentConfig
from p2pcount.train.crops import CrowdCrops, collate_crops
from p2pcount.train.loss import P2PLoss
from p2pcount.train.matcher import HungarianMatcher
from p2pcount.weights.checkpoint import (
    check_state,
    load_torch_file,
    read_weights,
    save_weights,
)


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults are the original release's recipe."""

    epochs: int = 100
    batch_size: int = 8
    crops_per_image: int = 4
    crop_size: int = 128
    scale_min: float = 0.7
    scale_max: float = 1.3
    lr: float = 1e-4
    lr_backbone: float = 1e-5
    lr_drop: int = 3500
    lr_gamma: float = 0.1
    weight_decay: float = 1e-4
    clip_norm: float = 0.1
    cost_point: float = 0.05
    cost_class: float = 1.0
    background_weight: float = 0.5
    point_weight: float = 2e-4
    threshold: float = 0.5
    radius: float = 8.0
    val_every: int = 1
    workers: int = 1
    seed: int = 0
    precision: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in (
            "epochs",
            "batch_size",
            "crops_per_image",
            "crop_size",
            "val_every",
            "lr_drop",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.crop_size % 16:
            raise ConfigError(f"crop_size must be a multiple of 16, not {self.crop_size}")
        if not 0 < self.scale_min <= self.scale_max:
            raise ConfigError("need 0 < scale_min <= scale_max")
        if not 0 < self.lr_gamma <= 1:
            raise ConfigError(f"lr_gamma must be in (0, 1], not {self.lr_gamma}")

    def learning_rates(self, epoch: int) -> tuple[float, float]:
        """(head and neck, backbone) learning rates of ``epoch`` (counted from 0): the
        release's StepLR, a function of the epoch alone so that a resumed run follows it."""
        factor = self.lr_gamma ** (epoch // self.lr_drop)
        return self.lr * factor, self.lr_backbone * factor


@dataclass
class EpochRecord:
    """One line of ``log.jsonl``: mean losses of the epoch (``loss_point`` in px² per
    ground-truth point, before its 2e-4 weight), wall time in seconds, learning rates,
    validation metrics (mae, mse, precision, recall, f1) and whether it is the best so far."""

    epoch: int
    loss: float
    loss_class: float
    loss_point: float
    seconds: float
    lr: float
    lr_backbone: float
    val: dict[str, float] = field(default_factory=dict)
    best: bool = False


@dataclass
class StepInfo:
    """What a progress display needs after each step (epoch and step count from 1)."""

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float


def load_backbone_weights(model: P2PNet, spec: str) -> str:
    """Initialize the backbone: ``imagenet`` (torchvision, downloaded with its hash checked),
    ``none`` (random), or a PATH to a torchvision VGG state dict. Returns a description.
    """
    if spec == "none":
        return "random initialization"
    backbone = model.config.backbone
    if spec == "imagenet":
        try:
            import torchvision

            builder = getattr(torchvision.models, backbone)
            state = builder(weights="IMAGENET1K_V1").state_dict()
        except Exception as exc:  # offline: URLError; other network or cache failures
            raise WeightsError(
                f"could not get torchvision's ImageNet {backbone} weights ({first_line(exc)}); "
                "use --backbone-weights none to train from scratch, or --backbone-weights "
                "PATH with a torchvision VGG state dict saved on this machine"
            ) from None
        origin = f"torchvision ImageNet {backbone}"
    else:
        path = Path(spec)
        if not path.is_file():
            raise WeightsError(f"{spec}: no such file (use imagenet, none or a PATH)")
        state = load_torch_file(spec, "cannot read backbone weights")
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        if not isinstance(state, dict):
            raise WeightsError(f"{spec}: not a state dict (expected a dict of tensors)")
        origin = str(path)
    features = model.backbone.features
    wanted = features.state_dict()
    picked = {}
    for key, tensor in state.items():
        local = key.removeprefix("backbone.").removeprefix("features.")
        if (
            local in wanted
            and isinstance(tensor, torch.Tensor)
            and tuple(tensor.shape) == tuple(wanted[local].shape)
        ):
            picked[local] = tensor
    missing = sorted(set(wanted) - set(picked))
    if missing:
        raise WeightsError(
            f"{spec}: not a {backbone} feature extractor: {plural(len(missing), 'tensor')} missing "
            f"or of the wrong shape ({', '.join(missing[:3])}…)"
        )
    features.load_state_dict(picked)
    return origin


_STATE_KEYS = frozenset(
    {"model", "optimizer", "scaler", "epoch", "best_mae", "model_config", "train_config"}
)
_DIVERGED = "the model's outputs or weights are not finite (training diverged: lower --lr)"


def _readable(samples: Sequence[Sample]) -> list[Sample]:
    """The validation samples whose images decode; the others are left out with a warning
    (found now, not after the first epoch)."""
    kept = []
    for sample in samples:
        try:
            load_image(sample.image, max_pixels=None, exif=False)
        except ImageError as exc:
            warnings.warn(f"{exc} (left out of validation)", stacklevel=2)
            continue
        kept.append(sample)
    if samples and not kept:
        raise DatasetError("no validation image could be read")
    return kept


def _optimizer(model: P2PNet, config: TrainConfig) -> torch.optim.Optimizer:
    backbone = [p for n, p in model.named_parameters() if n.startswith("backbone.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
    return torch.optim.Adam(
        [{"params": rest, "lr": config.lr}, {"params": backbone, "lr": config.lr_backbone}],
        lr=config.lr,
        weight_decay=config.weight_decay,
    )


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
        raise TrainingError(f"epoch {record.epoch}: {_DIVERGED}") from None


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


class Trainer:
    """One training run; see the module docstring for what it writes.

    Args:
        train_samples: annotated training images.
        output_dir: where checkpoints and logs go.
        config: hyper-parameters.
        model_config: the architecture to train (backbone, anchors, offset scale).
        val_samples: validation images (best checkpoint by their MAE), or None.
        backbone_weights: ``imagenet``, ``none`` or a PATH (ignored when resuming).
        init_weights: start the whole model from this checkpoint instead (fine-tuning; its
            architecture is used); ignored when resuming.
        resume: continue from ``output_dir/state.pt``.

    ``backbone_origin`` says how the run's backbone was first initialized (kept in its
    state and checkpoints); ``weights_origin`` where this run's starting weights come from
    (the same, the ``init_weights`` file, or the resumed state and its epoch).
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
    ) -> None:
        self.config = config
        self.output_dir = Path(output_dir)
        self.dist: DistInfo = init_distributed(resolve_device(config.device))
        self.device = self.dist.device
        self.autocast_dtype = resolve_precision(config.precision, self.device)
        self.val_samples = _readable(val_samples or []) if self.dist.is_main else []
        torch.manual_seed(config.seed + self.dist.rank)

        self.state_path = self.output_dir / "state.pt"
        saved = self._read_state() if resume else None
        run_files = ("state.pt", "log.jsonl", "last.safetensors", "best.safetensors")
        if saved is None and any((self.output_dir / name).exists() for name in run_files):
            raise ConfigError(
                f"{self.output_dir}: already holds a training run; "
                "continue it with --resume or choose another --output-dir"
            )
        initial = read_weights(init_weights) if saved is None and init_weights else None
        if saved is not None:  # the architecture being resumed, whatever was asked
            try:
                model_config = ModelConfig.from_json(saved["model_config"])
            except (ConfigError, TypeError, ValueError) as exc:
                raise WeightsError(
                    f"{self.state_path}: bad model config ({first_line(exc)})"
                ) from None
        elif initial is not None:
            model_config = initial.config
        self.model = P2PNet(model_config)
        self.start_epoch = 0
        self.best_mae = math.inf
        if initial is not None:
            check_state(self.model, initial.state, initial.source)
            self.model.load_state_dict({k: v.float() if v.is_floating_point() else v
                                        for k, v in initial.state.items()})  # fmt: skip
            self.backbone_origin = f"initialized from {init_weights}"
        elif saved is None:
            self.backbone_origin = load_backbone_weights(self.model, backbone_weights)
        else:
            self.backbone_origin = str(saved.get("backbone_origin", "resumed"))
        self.weights_origin = (
            f"resumed from {self.state_path} (epoch {saved['epoch']})"
            if saved is not None
            else self.backbone_origin
        )
        self.model.to(self.device)
        self.optimizer = _optimizer(self.model, config)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.autocast_dtype == torch.float16
        )
        if saved is not None:
            try:
                self.model.load_state_dict(saved["model"])
                self.optimizer.load_state_dict(saved["optimizer"])
                self.scaler.load_state_dict(saved["scaler"])
            except (RuntimeError, KeyError, TypeError, ValueError) as exc:
                raise WeightsError(
                    f"{self.state_path}: does not match its model config ({first_line(exc)})"
                ) from None
            self.start_epoch = int(saved["epoch"])
            self.best_mae = float(saved["best_mae"])
            if self.dist.is_main:
                _trim_log(self.output_dir / "log.jsonl", self.start_epoch)
        if self.dist.enabled:  # a performance note about DDP's gradient buckets, not an error
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
        self.net = (
            DistributedDataParallel(self.model, device_ids=[self.device.index])
            if self.dist.enabled and self.device.type == "cuda"
            else DistributedDataParallel(self.model)
            if self.dist.enabled
            else self.model
        )
        augment = AugmentConfig(
            config.scale_min,
            config.scale_max,
            config.crop_size,
            config.crops_per_image,
            fill=tuple(round(255 * m) for m in model_config.mean),
        )
        self.dataset = CrowdCrops(train_samples, augment, seed=config.seed)
        self.sampler = DistributedSampler(
            self.dataset,
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=True,
            seed=config.seed,
        )
        self.loader = DataLoader(
            self.dataset,
            batch_size=config.batch_size,
            sampler=self.sampler,
            num_workers=config.workers,
            collate_fn=collate_crops,
            pin_memory=self.device.type == "cuda",
            # Workers start afresh each epoch with the dataset's current epoch (its
            # randomness): persistent workers would keep the first epoch's crops forever.
            persistent_workers=False,
        )
        self.criterion = P2PLoss(
            HungarianMatcher(config.cost_point, config.cost_class),
            background_weight=config.background_weight,
            point_weight=config.point_weight,
        )
        self.decoder = PointDecoder(self.model.config)
        if self.dist.is_main:
            try:
                self.output_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"{self.output_dir}: cannot create the output folder ({exc.strerror or exc})"
                ) from None

    def _read_state(self) -> dict | None:
        if not self.state_path.is_file():
            raise WeightsError(f"{self.state_path}: nothing to resume (no training state)")
        saved = load_torch_file(self.state_path, "not a readable training state")
        missing = _STATE_KEYS - set(saved) if isinstance(saved, dict) else _STATE_KEYS
        if missing:
            raise WeightsError(
                f"{self.state_path}: not a p2pcount training state (missing "
                f"{', '.join(sorted(missing))})"
            )
        epoch = saved["epoch"]
        if not isinstance(epoch, int) or epoch < 0:
            raise WeightsError(
                f"{self.state_path}: not a p2pcount training state (epoch {epoch!r})"
            )
        if epoch >= self.config.epochs:
            raise ConfigError(
                f"{self.state_path}: already trained {plural(epoch, 'epoch')}; "
                "ask for more with --epochs"
            )
        return saved

    def state(self, epoch: int) -> dict:
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
        """One optimization step on a batch of crops; returns the loss terms."""
        images = images.to(self.device, non_blocking=True)
        targets = [t.to(self.device, non_blocking=True) for t in targets]
        with torch.autocast(
            self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None
        ):
            offsets, logits = self.net(images)
        offsets, logits = offsets.float(), logits.float()
        if not (torch.isfinite(offsets).all() and torch.isfinite(logits).all()):
            raise TrainingError(_DIVERGED)
        points, flat_logits = flatten_proposals(self.decoder(offsets, logits).points, logits)
        losses = self.criterion(points, flat_logits, targets)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return {k: float(v.detach()) for k, v in losses.items() if k != "num_points"}

    def validate(self) -> dict[str, float]:
        """MAE, MSE and localization of the current weights on the validation images."""
        counter = Counter(self.model, self.device, precision=self.config.precision)
        report = evaluate(
            counter, self.val_samples, self.config.threshold, self.config.radius, with_nap=False
        )
        self.model.train()
        loc = report.localization
        return {
            "mae": report.mae,
            "mse": report.mse,
            "precision": loc.precision,
            "recall": loc.recall,
            "f1": loc.f1,
        }

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
        self.model.train()
        for group, lr in zip(
            self.optimizer.param_groups, self.config.learning_rates(epoch), strict=True
        ):
            group["lr"] = lr
        self.sampler.set_epoch(epoch)
        self.dataset.set_epoch(epoch)
        started = time.perf_counter()
        sums = {"loss": 0.0, "loss_class": 0.0, "loss_point": 0.0}
        steps = len(self.loader)
        for index, batch in enumerate(self.loader):
            if isinstance(batch, ImageError):
                raise batch
            try:
                losses = self.step(*batch)
            except TrainingError as exc:
                raise TrainingError(f"epoch {epoch + 1}, step {index + 1}: {exc}") from None
            for key in sums:
                sums[key] += losses[key]
            if on_step and self.dist.is_main:
                on_step(StepInfo(epoch + 1, self.config.epochs, index + 1, steps, losses["loss"]))
        means = {k: v / max(steps, 1) for k, v in sums.items()}
        record = EpochRecord(
            epoch=epoch + 1,
            seconds=time.perf_counter() - started,
            lr=self.optimizer.param_groups[0]["lr"],
            lr_backbone=self.optimizer.param_groups[1]["lr"],
            **means,
        )
        last_epoch = epoch + 1 == self.config.epochs
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise TrainingError(f"epoch {epoch + 1}: {_DIVERGED}")  # nothing of it is saved
        if self.dist.is_main:
            if self.val_samples and ((epoch + 1) % self.config.val_every == 0 or last_epoch):
                record.val = self.validate()
                if record.val["mae"] < self.best_mae:
                    self.best_mae = record.val["mae"]
                    record.best = True
            meta = {"epoch": str(epoch + 1), "backbone_init": self.backbone_origin}
            save_weights(self.output_dir / "last.safetensors", self.model, metadata=meta)
            if record.best or not self.val_samples:
                save_weights(self.output_dir / "best.safetensors", self.model, metadata=meta)
            # The log first: if the state is not written, resuming redoes the epoch and
            # _trim_log drops its record.
            _append_log(self.output_dir / "log.jsonl", record)
            _save_state(self.state_path, self.state(epoch + 1))
        if self.dist.enabled:
            dist.barrier()
        return record
