"""Setting a training run up, one job per function: the validation images, the resumed state
and its checks, the model from its source (resumed state, ``--init-weights`` file, or fresh
with a backbone's weights), the optimizer's two groups, DDP, the data loader, the criterion
and the output folder.

:class:`~p2pcount.train.trainer.Trainer` calls them in a fixed order: the global random
generator, seeded before, is drawn by the model's initialization (and torchvision's), so the
order is part of what makes a run repeatable with the same seed.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from p2pcount.data.datasets import Sample
from p2pcount.errors import ConfigError, DatasetError, ImageError, WeightsError, first_line
from p2pcount.infer.distributed import DistInfo
from p2pcount.io.images import load_image
from p2pcount.model.config import ModelConfig
from p2pcount.model.network import P2PNet
from p2pcount.text import plural
from p2pcount.train.augment import AugmentConfig
from p2pcount.train.config import CropLayout, TrainConfig
from p2pcount.train.crops import CrowdCrops, LayoutBatches, collate_crops
from p2pcount.train.loss import P2PLoss
from p2pcount.train.matcher import HungarianMatcher
from p2pcount.train.recipes import crop_recipe
from p2pcount.weights.checkpoint import load_checked, load_torch_file, read_weights, state_dict_in

STATE_FILE = "state.pt"
LOG_FILE = "log.jsonl"
#: The files of a run: a folder holding any of them is not started afresh.
LAST_FILE, BEST_FILE = "last.safetensors", "best.safetensors"
RUN_FILES = (STATE_FILE, LOG_FILE, LAST_FILE, BEST_FILE)
_STATE_KEYS = frozenset(
    {"model", "optimizer", "scaler", "epoch", "best_mae", "model_config", "train_config"}
)


def readable(samples: Sequence[Sample]) -> list[Sample]:
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


def read_state(state_path: Path) -> dict:
    """The training state to resume, checked: p2pcount's keys and an epoch count."""
    if not state_path.is_file():
        raise WeightsError(f"{state_path}: nothing to resume (no training state)")
    saved = load_torch_file(state_path, "not a readable training state")
    missing = _STATE_KEYS - set(saved) if isinstance(saved, dict) else _STATE_KEYS
    if missing:
        raise WeightsError(
            f"{state_path}: not a p2pcount training state (missing {', '.join(sorted(missing))})"
        )
    epoch = saved["epoch"]
    if not isinstance(epoch, int) or epoch < 0:
        raise WeightsError(f"{state_path}: not a p2pcount training state (epoch {epoch!r})")
    return saved


def check_epochs_left(saved: dict, state_path: Path, epochs: int) -> None:
    """Refuse to resume a run that has already trained ``epochs`` epochs or more."""
    if saved["epoch"] >= epochs:
        raise ConfigError(
            f"{state_path}: already trained {plural(saved['epoch'], 'epoch')}; "
            "ask for more with --epochs"
        )


#: The :class:`TrainConfig` fields that say where a run trains rather than how: always the
#: caller's, on resume too.
_INVOCATION_FIELDS = frozenset({"workers", "device", "precision"})


def resumed_config(
    config: TrainConfig,
    saved: dict | None,
    state_path: Path,
    given: Collection[str] | None = None,
) -> TrainConfig:
    """``config`` as the run goes on, its augmentation recipe named.

    A new run (``saved`` None) keeps ``config`` (``augment`` None: ``release``). A resumed
    run keeps its own recipe, from its state's ``train_config``, for every field the caller
    did not set: those not named in ``given`` (None names them all, as a caller that builds
    the whole config means it), and ``augment`` when it is None (``epochs`` too: a run
    resumed without it goes on to its own count). ``workers``, ``device`` and ``precision``
    are always ``config``'s. A field the state does not record (written before the option
    existed, or a config that is not p2pcount's JSON) stays as in ``config`` (``augment``:
    ``release``).

    Raises:
        WeightsError: the state's recorded recipe is not a valid :class:`TrainConfig`.
    """
    recorded: dict = {}
    if saved is not None:
        # A state whose config is not p2pcount's JSON resumes with the caller's.
        with contextlib.suppress(TypeError, ValueError):
            loaded = json.loads(saved["train_config"])
            recorded = loaded if isinstance(loaded, dict) else {}
    names = {field.name for field in fields(TrainConfig)} - _INVOCATION_FIELDS
    unset = names - (names if given is None else set(given))
    if config.augment is None:
        unset.add("augment")
    changes = {name: recorded[name] for name in unset if recorded.get(name) is not None}
    changes.setdefault("augment", config.augment or "release")
    try:
        if "extra_crop_layouts" in changes:  # in JSON each is {"crops": C, "size": S}
            changes["extra_crop_layouts"] = tuple(
                CropLayout(**layout) if isinstance(layout, dict) else layout
                for layout in changes["extra_crop_layouts"]
            )
        return replace(config, **changes)
    except (ConfigError, TypeError, ValueError) as exc:
        raise WeightsError(
            f"{state_path}: its training config cannot be resumed ({first_line(exc)})"
        ) from None


def check_fresh(output_dir: Path) -> None:
    """Refuse to start a new run in a folder that holds another one's files."""
    if any((output_dir / name).exists() for name in RUN_FILES):
        raise ConfigError(
            f"{output_dir}: already holds a training run; "
            "continue it with --resume or choose another --output-dir"
        )


@dataclass
class StartingModel:
    """The model a run starts from, on the CPU. ``backbone_origin`` says how the run's
    backbone was first initialized; ``weights_origin`` where these weights come from."""

    model: P2PNet
    backbone_origin: str
    weights_origin: str


def starting_model(
    requested: ModelConfig,
    saved: dict | None,
    state_path: Path,
    init_weights: str | None,
    backbone_weights: str,
) -> StartingModel:
    """The model to train, from the first source there is: the resumed state ``saved``
    (its architecture, whatever was asked; its tensors are loaded by :func:`restore`), the
    ``init_weights`` file (its architecture and tensors), or ``requested`` with the
    ``backbone_weights`` of :func:`load_backbone_weights`."""
    if saved is not None:
        model = P2PNet(_saved_model_config(saved, state_path))
        origin = str(saved.get("backbone_origin", "resumed"))
        return StartingModel(model, origin, f"resumed from {state_path} (epoch {saved['epoch']})")
    if init_weights:
        initial = read_weights(init_weights)
        model = P2PNet(initial.config)
        load_checked(model, initial)
        origin = f"initialized from {init_weights}"
    else:
        model = P2PNet(requested)
        origin = load_backbone_weights(model, backbone_weights)
    return StartingModel(model, origin, origin)


def _saved_model_config(saved: dict, state_path: Path) -> ModelConfig:
    try:
        return ModelConfig.from_json(saved["model_config"])
    except (ConfigError, TypeError, ValueError) as exc:
        raise WeightsError(f"{state_path}: bad model config ({first_line(exc)})") from None


def load_backbone_weights(model: P2PNet, spec: str) -> str:
    """Initialize the backbone: ``imagenet`` (torchvision, downloaded with its hash checked),
    ``none`` (random), or a PATH to a torchvision VGG state dict. Returns a description.
    """
    if spec == "none":
        return "random initialization"
    backbone = model.config.backbone
    if spec == "imagenet":
        state = _imagenet_state(backbone)
        origin = f"torchvision ImageNet {backbone}"
    else:
        if not Path(spec).is_file():
            raise WeightsError(f"{spec}: no such file (use imagenet, none or a PATH)")
        loaded = load_torch_file(spec, "cannot read backbone weights")
        state = state_dict_in(loaded, spec, strict=False)
        origin = str(Path(spec))
    features = model.backbone.features
    wanted = features.state_dict()
    picked = {}
    for key, tensor in state.items():
        local = key.removeprefix("backbone.").removeprefix("features.")
        if local in wanted and tuple(tensor.shape) == tuple(wanted[local].shape):
            picked[local] = tensor
    missing = sorted(set(wanted) - set(picked))
    if missing:
        raise WeightsError(
            f"{spec}: not a {backbone} feature extractor: {plural(len(missing), 'tensor')} missing "
            f"or of the wrong shape ({', '.join(missing[:3])}…)"
        )
    features.load_state_dict(picked)
    return origin


def _imagenet_state(backbone: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights of the ``backbone`` VGG (the whole classifier's)."""
    try:
        import torchvision

        builder = getattr(torchvision.models, backbone)
        return builder(weights="IMAGENET1K_V1").state_dict()
    except Exception as exc:  # offline: URLError; other network or cache failures
        raise WeightsError(
            f"could not get torchvision's ImageNet {backbone} weights ({first_line(exc)}); "
            "use --backbone-weights none to train from scratch, or --backbone-weights "
            "PATH with a torchvision VGG state dict saved on this machine"
        ) from None


def make_optimizer(model: P2PNet, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam over two groups: the head and neck at ``config.lr`` (group 0), the backbone at
    ``config.lr_backbone`` (group 1)."""
    backbone = [p for n, p in model.named_parameters() if n.startswith("backbone.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
    return torch.optim.Adam(
        [{"params": rest, "lr": config.lr}, {"params": backbone, "lr": config.lr_backbone}],
        lr=config.lr,
        weight_decay=config.weight_decay,
    )


def restore(
    saved: dict,
    state_path: Path,
    model: P2PNet,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
) -> tuple[int, float]:
    """Load the resumed state's model, optimizer and scaler; returns its (epochs done,
    best validation MAE so far)."""
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved["scaler"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise WeightsError(
            f"{state_path}: does not match its model config ({first_line(exc)})"
        ) from None
    return int(saved["epoch"]), float(saved["best_mae"])


def distribute(model: P2PNet, dist: DistInfo) -> torch.nn.Module:
    """``model`` wrapped in DDP under torchrun (on its GPU on CUDA), else itself."""
    if not dist.enabled:
        return model
    # A performance note about DDP's gradient buckets, not an error.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
    if dist.device.type == "cuda":
        return DistributedDataParallel(model, device_ids=[dist.device.index])
    return DistributedDataParallel(model)


def make_loader(
    samples: Sequence[Sample], config: TrainConfig, model_config: ModelConfig, dist: DistInfo
) -> tuple[CrowdCrops, LayoutBatches, DataLoader]:
    """The training crops, this process's shuffled share of them in batches, and their
    loader: batches of (images (B·C, 3, S, S) float32 in [0, 1], B·C point tensors (M, 2) in
    crop pixels), with B ``config.batch_size`` and each batch's C crops per image of S px from
    one of ``config.crop_layouts`` (:class:`~p2pcount.train.crops.LayoutBatches` picks it).

    Crops are augmented by the recipe ``config.augment`` (resolved, see
    :func:`resumed_config`) and padded with the model's mean colour. Call ``set_epoch`` on
    the crops and the batches at the start of each epoch.
    """
    fill = tuple(round(255 * m) for m in model_config.mean)
    recipes = [
        crop_recipe(
            config.augment or "release",
            AugmentConfig(config.scale_min, config.scale_max, layout.size, layout.crops, fill=fill),
        )
        for layout in config.crop_layouts
    ]
    dataset = CrowdCrops(samples, recipes, seed=config.seed)
    sampler = DistributedSampler(
        dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=config.seed
    )
    batches = LayoutBatches(sampler, config.batch_size, len(recipes), seed=config.seed)
    loader = DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=config.workers,
        collate_fn=collate_crops,
        pin_memory=dist.device.type == "cuda",
        # Workers start afresh each epoch with the dataset's current epoch (its
        # randomness): persistent workers would keep the first epoch's crops forever.
        persistent_workers=False,
    )
    return dataset, batches, loader


def make_criterion(config: TrainConfig) -> P2PLoss:
    """The loss with the Hungarian matcher, weighted as ``config`` says."""
    return P2PLoss(
        HungarianMatcher(config.cost_point, config.cost_class),
        background_weight=config.background_weight,
        point_weight=config.point_weight,
    )


def make_output_dir(output_dir: Path) -> None:
    """Create the run's folder (and its parents) if it is not there."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{output_dir}: cannot create the output folder ({exc.strerror or exc})"
        ) from None
