"""The augmentation recipes of ``train --augment`` by name (see
:data:`p2pcount.train.config.AUGMENTS`), each a function turning one annotated image into
its training crops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

import numpy as np
from PIL import Image

from p2pcount.errors import ConfigError
from p2pcount.train.augment import AugmentConfig, random_crops
from p2pcount.train.robust import RobustConfig, robust_crops

#: (RGB image, (K, 2) float32 points in px, generator) → crops: (S, S, 3) uint8 arrays with
#: their (M, 2) float32 points in crop px.
CropRecipe = Callable[
    [Image.Image, np.ndarray, np.random.Generator], list[tuple[np.ndarray, np.ndarray]]
]


def crop_recipe(name: str, crops: AugmentConfig) -> CropRecipe:
    """The recipe ``name``, cutting ``crops.crops`` crops of ``crops.crop_size`` px:

    * ``release``: the original release's (:func:`~p2pcount.train.augment.random_crops`,
      scale in ``crops.scale_min``–``scale_max``, flips), bit for bit;
    * ``robust``: :func:`~p2pcount.train.robust.robust_crops` with :class:`RobustConfig`'s
      defaults;
    * ``none``: random crops at the image's own scale, without flips (crops only because a
      batch needs images of one size; smaller images padded as in ``release``).

    Picklable, for data-loader workers.
    """
    if name == "release":
        return partial(random_crops, config=crops)
    if name == "robust":
        return partial(robust_crops, crops=crops, config=RobustConfig())
    if name == "none":
        return partial(
            random_crops, config=replace(crops, scale_min=1.0, scale_max=1.0, flip=False)
        )
    raise ConfigError(f"unknown augmentation {name!r}")
