"""Turning annotated samples into augmented training batches (torch Dataset + collate)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from p2pcount.data.datasets import Sample
from p2pcount.errors import ImageError
from p2pcount.io.images import load_image
from p2pcount.train.recipes import CropRecipe


class CrowdCrops(Dataset):
    """Item i: the crops of sample i, augmented by ``recipe`` (see
    :func:`~p2pcount.train.recipes.crop_recipe`).

    Returns (images (C, 3, S, S) float32 in [0, 1], list of C (M_j, 2) float32 point
    tensors in crop pixels). Randomness comes from (seed, epoch, i), so a resumed run
    sees the same crops; call :meth:`set_epoch` at the start of each epoch.
    """

    def __init__(self, samples: Sequence[Sample], recipe: CropRecipe, seed: int = 0) -> None:
        self.samples = list(samples)
        self.recipe = recipe
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, list[torch.Tensor]] | ImageError:
        """The crops of sample ``index``; an image that cannot be decoded gives its
        :class:`ImageError` as the item (raised by the training loop, in the main process,
        as one line instead of a DataLoader worker's traceback)."""
        sample = self.samples[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        try:
            image = load_image(sample.image, max_pixels=None, exif=False)
        except ImageError as exc:
            return exc
        crops = self.recipe(image, sample.points, rng)
        images = torch.from_numpy(np.stack([c for c, _ in crops])).permute(0, 3, 1, 2)
        points = [torch.from_numpy(p.astype(np.float32)) for _, p in crops]
        return images.float().div_(255.0), points


def collate_crops(
    batch: Sequence[tuple[torch.Tensor, list[torch.Tensor]] | ImageError],
) -> tuple[torch.Tensor, list[torch.Tensor]] | ImageError:
    """Stack the crops of several items: (ΣC, 3, S, S) and the matching list of points; or
    the first item's :class:`ImageError` if there is one."""
    for item in batch:
        if isinstance(item, ImageError):
            return item
    images = torch.cat([images for images, _ in batch])
    targets = [points for _, crop_points in batch for points in crop_points]
    return images, targets
