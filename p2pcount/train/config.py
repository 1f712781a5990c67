"""What a training run is asked (:class:`TrainConfig`) and what it reports (:class:`StepInfo`
after each step, :class:`EpochRecord` after each epoch); no torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from p2pcount.errors import ConfigError
from p2pcount.model.config import BACKBONE_BLOCKS

#: The training augmentation recipes (``train --augment``): the original release's random
#: scale, crops and flips; ``robust``, which adds photometric corruptions, sensor noise, blur,
#: JPEG, rotation and perspective (:mod:`p2pcount.train.robust`); ``none``, crops alone.
AUGMENTS = ("release", "robust", "none")


@dataclass(frozen=True)
class CropLayout:
    """How a batch is cut: ``crops`` random crops of ``size`` × ``size`` px from each image
    (``size`` a multiple of 16)."""

    crops: int
    size: int

    def __post_init__(self) -> None:
        if self.crops < 1:
            raise ConfigError(f"crops per image must be at least 1, not {self.crops}")
        if self.size < 16 or self.size % 16:
            raise ConfigError(f"crop size must be a positive multiple of 16, not {self.size}")

    @classmethod
    def parse(cls, text: str) -> CropLayout:
        """The layout written ``NxS`` (``1x256``: one crop of 256 px per image)."""
        crops, sep, size = text.strip().lower().partition("x")
        if not (sep and crops.isdigit() and size.isdigit()):
            raise ConfigError(
                f"crop layout {text!r}: expected NxS, N crops of S px per image (e.g. 1x256)"
            )
        try:
            return cls(int(crops), int(size))
        except ConfigError as exc:
            raise ConfigError(f"crop layout {text!r}: {exc}") from None

    def __str__(self) -> str:
        return f"{self.crops}x{self.size}"


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults are the original release's recipe.

    Sizes are in pixels (``crop_size``, a multiple of 16; ``radius``, the localization match
    distance), ``scale_*`` are image scale factors, ``lr_drop`` and ``val_every`` count epochs,
    ``cost_*`` weigh the matcher and ``*_weight`` the loss (see :mod:`p2pcount.train.loss`).
    ``augment`` names the recipe (one of :data:`AUGMENTS`); None stands for the resumed run's
    own, or ``release`` for a new run (resolved by :func:`p2pcount.train.setup.resumed_config`).
    ``scale_*`` apply to ``release`` alone (``robust`` has its own range, ``none`` none).
    ``extra_crop_layouts`` are further ways to cut a batch besides ``crops_per_image`` crops of
    ``crop_size`` px (all of them in :attr:`crop_layouts`): each batch is cut in one of them,
    every layout taking an equal share of an epoch's batches (see
    :class:`~p2pcount.train.crops.LayoutBatches`).
    ``frozen_blocks`` of the backbone's VGG blocks
    (:data:`~p2pcount.model.config.BACKBONE_BLOCKS`), counted from the input, keep their
    starting weights (see :mod:`p2pcount.train.freezing`); 0 trains them all, as the release
    does.
    """

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
    augment: str | None = None
    extra_crop_layouts: tuple[CropLayout, ...] = ()
    frozen_blocks: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "val_every", "lr_drop"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        CropLayout(self.crops_per_image, self.crop_size)  # checks both as any layout
        self.extra_crop_layouts = tuple(
            layout if isinstance(layout, CropLayout) else CropLayout(*layout)
            for layout in self.extra_crop_layouts
        )
        if not 0 < self.scale_min <= self.scale_max:
            raise ConfigError("need 0 < scale_min <= scale_max")
        if self.augment is not None and self.augment not in AUGMENTS:
            raise ConfigError(f"augment must be one of {', '.join(AUGMENTS)}, not {self.augment!r}")
        if not 0 <= self.frozen_blocks <= BACKBONE_BLOCKS:
            raise ConfigError(
                f"frozen_blocks must be 0 to {BACKBONE_BLOCKS}, not {self.frozen_blocks}"
            )
        if not 0 < self.lr_gamma <= 1:
            raise ConfigError(f"lr_gamma must be in (0, 1], not {self.lr_gamma}")

    @property
    def crop_layouts(self) -> tuple[CropLayout, ...]:
        """The ways a batch may be cut: ``crops_per_image`` × ``crop_size`` first, then the
        extra layouts."""
        return (CropLayout(self.crops_per_image, self.crop_size), *self.extra_crop_layouts)

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
