"""Turning annotated samples into augmented training batches: the crops of an image (torch
Dataset), which layout each batch is cut in (batch sampler), and the batch (collate)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from p2pcount.data.datasets import Sample
from p2pcount.errors import ImageError
from p2pcount.io.images import load_image
from p2pcount.train.recipes import CropRecipe


class CrowdCrops(Dataset):
    """Item ``(i, k)`` (or ``i``, standing for ``(i, 0)``): the crops of sample i cut and
    augmented by ``recipes[k]``, one recipe per crop layout (see
    :func:`~p2pcount.train.recipes.crop_recipe`).

    Returns (images (C, 3, S, S) float32 in [0, 1], list of C (M_j, 2) float32 point
    tensors in crop pixels), C and S being recipe k's. Randomness comes from (seed, epoch,
    i) for recipe 0 and (seed, epoch, i, k) for the others, so a resumed run sees the same
    crops; call :meth:`set_epoch` at the start of each epoch.
    """

    def __init__(
        self, samples: Sequence[Sample], recipes: Sequence[CropRecipe], seed: int = 0
    ) -> None:
        self.samples = list(samples)
        self.recipes = list(recipes)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(
        self, key: int | tuple[int, int]
    ) -> tuple[torch.Tensor, list[torch.Tensor]] | ImageError:
        """The crops of sample ``index`` in layout ``k`` (``key`` is ``(index, k)`` or
        ``index``); an image that cannot be decoded gives its :class:`ImageError` as the item
        (raised by the training loop, in the main process, as one line instead of a
        DataLoader worker's traceback)."""
        index, layout = key if isinstance(key, tuple) else (key, 0)
        sample = self.samples[index]
        entropy = [self.seed, self.epoch, index] + ([layout] if layout else [])
        rng = np.random.default_rng(entropy)
        try:
            image = load_image(sample.image, max_pixels=None, exif=False)
        except ImageError as exc:
            return exc
        crops = self.recipes[layout](image, sample.points, rng)
        images = torch.from_numpy(np.stack([c for c, _ in crops])).permute(0, 3, 1, 2)
        points = [torch.from_numpy(p.astype(np.float32)) for _, p in crops]
        return images.float().div_(255.0), points


class LayoutBatches(Sampler[list[tuple[int, int]]]):
    """Batches of ``batch_size`` dataset indices in ``sampler``'s order (the last one may be
    shorter), each index paired with its batch's crop layout: a number below ``layouts``.

    Every layout takes an equal share of an epoch's batches (the first ones one more when
    they do not divide evenly), in an order shuffled from (seed, epoch): the same on every
    process of a distributed run. With one layout the batches are those of a DataLoader with
    ``batch_size`` and ``sampler``. Call :meth:`set_epoch` at the start of each epoch (it sets
    the ``sampler``'s too).
    """

    def __init__(
        self, sampler: DistributedSampler, batch_size: int, layouts: int, seed: int = 0
    ) -> None:
        self.sampler = sampler
        self.batch_size = batch_size
        self.layouts = layouts
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)

    def batch_layouts(self) -> np.ndarray:
        """The layout of each of this epoch's batches, (len(self),) int."""
        shares = np.arange(len(self)) % self.layouts
        return np.random.default_rng([self.seed, self.epoch]).permutation(shares)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        indices = list(self.sampler)
        for number, layout in enumerate(self.batch_layouts().tolist()):
            batch = indices[number * self.batch_size : (number + 1) * self.batch_size]
            yield [(index, layout) for index in batch]


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
