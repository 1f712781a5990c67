"""``p2pcount train``: train a P2PNet on annotated crowd images."""

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from p2pcount.cli import options as opt
from p2pcount.cli.common import EXIT_USAGE, usage_errors
from p2pcount.cli.console import error, message, warning
from p2pcount.errors import P2PCountError
from p2pcount.model.config import BACKBONE_BLOCKS
from p2pcount.train.config import AUGMENTS, CropLayout

AugmentChoice = opt.choice_enum("AugmentChoice", AUGMENTS)

#: The recipe options of ``train`` (parameter name: the TrainConfig field each sets). On
#: --resume, a field whose option is not given keeps the resumed run's value.
_RECIPE_OPTIONS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "crops": "crops_per_image",
    "crop_size": "crop_size",
    "also_crop": "extra_crop_layouts",
    "lr": "lr",
    "lr_backbone": "lr_backbone",
    "freeze_blocks": "frozen_blocks",
    "lr_drop": "lr_drop",
    "lr_gamma": "lr_gamma",
    "val_every": "val_every",
    "seed": "seed",
    "augment": "augment",
}


def train(
    ctx: typer.Context,
    train_data: Annotated[
        Path, typer.Argument(metavar="TRAIN_DATA", help="Training dataset (list file or folder).")
    ],
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Checkpoints, state and log go here.")
    ],
    val: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--val", help="Validation dataset; best.safetensors is chosen by its MAE."),
    ] = None,
    data_format: opt.TrainDatasetFormat = None,
    val_format: opt.ValDatasetFormat = None,
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, help="Epochs in all (resumed: default the run's).")
    ] = 100,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Images.")] = 8,
    crops: Annotated[int, typer.Option("--crops-per-image", min=1)] = 4,
    crop_size: Annotated[int, typer.Option("--crop-size", min=16)] = 128,
    also_crop: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--also-crop",
            metavar="NxS",
            help="Another way to cut a batch: N crops of S px per image (e.g. 1x256; "
            "repeatable). Each batch is cut in one layout, --crops-per-image x --crop-size or "
            "one of these, each taking an equal share of the batches.",
            show_default=False,
        ),
    ] = None,
    lr: Annotated[float, typer.Option("--lr", min=0.0)] = 1e-4,
    lr_backbone: Annotated[float, typer.Option("--lr-backbone", min=0.0)] = 1e-5,
    freeze_blocks: Annotated[
        int,
        typer.Option(
            "--freeze-blocks",
            min=0,
            max=BACKBONE_BLOCKS,
            metavar="K",
            help=f"Keep the backbone's first K VGG blocks (of {BACKBONE_BLOCKS}) as they "
            "start: no gradients through them, so steps are faster (fine-tuning on a CPU); "
            f"{BACKBONE_BLOCKS} fixes the whole backbone, 0 trains it all as the release does.",
        ),
    ] = 0,
    lr_drop: Annotated[
        int,
        typer.Option(
            "--lr-drop", min=1, help="Multiply both learning rates by --lr-gamma every N epochs."
        ),
    ] = 3500,
    lr_gamma: Annotated[float, typer.Option("--lr-gamma", min=0.0, max=1.0)] = 0.1,
    backbone: Annotated[opt.BackboneChoice, typer.Option("--backbone")] = opt.BackboneChoice.vgg16,
    backbone_weights: Annotated[
        str,
        typer.Option(
            "--backbone-weights", help="imagenet (torchvision download), none, or a PATH."
        ),
    ] = "imagenet",
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue from OUTPUT_DIR/state.pt. The recipe options not given again "
            "(--epochs, learning rates, crops, --freeze-blocks, --seed, --augment, ...) keep the "
            "run's own.",
        ),
    ] = False,
    init_weights: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--init-weights",
            help="Start the whole model from this checkpoint (fine-tuning); its backbone wins.",
        ),
    ] = None,
    val_every: Annotated[int, typer.Option("--val-every", min=1, help="Epochs.")] = 1,
    workers: Annotated[int, typer.Option("--workers", min=0, help="Data loader processes.")] = 1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    augment: Annotated[
        Optional[AugmentChoice],  # noqa: UP045
        typer.Option(
            "--augment",
            help="release: the original recipe (scale, crops, flips); robust: also colour, "
            "gamma, grayscale, blur, noise, JPEG, rotation, perspective; none: crops only. "
            "Default: release, or the resumed run's.",
            show_default=False,
        ),
    ] = None,
    device: opt.Device = "auto",
    precision: opt.Precision = opt.PrecisionChoice.auto,
) -> None:
    """Train P2PNet with the original release's recipe (Hungarian matching, Adam, crops).

    \b
    Works under torchrun for several processes or machines:
    torchrun --nproc-per-node K -m p2pcount train ...
    """
    from p2pcount.cli.progress import train_progress
    from p2pcount.data.datasets import load_dataset, summarize
    from p2pcount.infer.distributed import shutdown_distributed
    from p2pcount.model.config import ModelConfig
    from p2pcount.text import plural
    from p2pcount.train.config import TrainConfig
    from p2pcount.train.trainer import Trainer

    with usage_errors():
        samples = load_dataset(train_data, data_format, on_warning=warning)
        val_samples = load_dataset(val, val_format, on_warning=warning) if val else None
        config = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            crops_per_image=crops,
            crop_size=crop_size,
            extra_crop_layouts=tuple(CropLayout.parse(text) for text in also_crop or ()),
            lr=lr,
            lr_backbone=lr_backbone,
            frozen_blocks=freeze_blocks,
            lr_drop=lr_drop,
            lr_gamma=lr_gamma,
            val_every=val_every,
            workers=workers,
            seed=seed,
            augment=augment.value if augment else None,
            device=device,
            precision=precision.value,
        )
        trainer = Trainer(
            samples,
            output_dir,
            config,
            ModelConfig(backbone=backbone.value),
            val_samples=val_samples,
            backbone_weights=backbone_weights,
            resume=resume,
            init_weights=init_weights,
            given=_given_fields(ctx),
        )
    if trainer.dist.is_main:
        stats = summarize(samples)
        first = trainer.start_epoch + 1
        last = trainer.config.epochs
        span = f"epoch {last}" if first == last else f"epochs {first}–{last}"
        crop_layouts = trainer.config.crop_layouts
        extras = ""
        if len(crop_layouts) > 1:
            extras = f", crops per image {' or '.join(map(str, crop_layouts))} by batch"
        if frozen := trainer.config.frozen_blocks:
            extras += f", backbone block{'s 1–' if frozen > 1 else ' '}{frozen} fixed"
        message(
            f"training on {plural(stats['images'], 'image')}, {plural(stats['points'], 'head')} "
            f"({stats['min_count']}–{stats['max_count']} per image; "
            f"{plural(trainer.dist.world_size, 'process', 'processes')}, "
            f"{trainer.device}, autocast {trainer.autocast_dtype or 'off'}), "
            f"{trainer.model.config.backbone}: {trainer.weights_origin}, {span}{extras}"
        )
    try:
        with train_progress(enabled=trainer.dist.is_main) as (on_step, on_epoch):
            trainer.run(on_step=on_step, on_epoch=on_epoch)
    except KeyboardInterrupt:
        if trainer.dist.is_main:
            message(f"interrupted; continue with: {_resume_command(trainer.dist.enabled)}")
        raise typer.Exit(130) from None
    except P2PCountError as exc:  # e.g. an image that turns out corrupt when it is decoded
        again = "continue with --resume" if trainer.state_path.is_file() else "start again"
        error(f"{exc} (training stopped; fix it and {again})")
        raise typer.Exit(EXIT_USAGE) from None
    finally:
        shutdown_distributed()
    if trainer.dist.is_main:
        message(f"done: {output_dir / 'best.safetensors'}")


def _given_fields(ctx: typer.Context) -> set[str]:
    """The TrainConfig fields whose recipe option was given (on the command line or by an
    environment variable), not left at its default."""
    # By name: recent typer releases carry their own copy of click (another enum class).
    defaults = {"DEFAULT", "DEFAULT_MAP"}
    return {
        field
        for name, field in _RECIPE_OPTIONS.items()
        if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") not in defaults
    }


def _resume_command(torchrun: bool) -> str:
    """The command line that continues this run: its own arguments (``sys.argv``), quoted for
    a POSIX shell, with ``--resume`` added. Under torchrun, whose options this process does
    not see, the torchrun part is left for the user to repeat."""
    args = sys.argv[1:]
    if "--resume" not in args:
        args = [*args, "--resume"]
    if torchrun:
        return f"torchrun <the same options> -m {shlex.join(['p2pcount', *args])}"
    return shlex.join(["p2pcount", *args])
