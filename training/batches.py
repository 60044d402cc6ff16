"""Aspect-ratio buckets and the deterministic batch plan that makes resume exact.

Every sample goes to the bucket (width, height, reference count) nearest its aspect ratio; a
*global batch* (batch size x processes) always comes from one bucket. Global batch ``n`` is a
pure function of (seed, n): epoch ``n // batches_per_epoch`` shuffles each bucket and the batch
order with a generator seeded by (seed, epoch). Process ``r`` takes rows ``[r*B, (r+1)*B)``.
Per-sample randomness (caption choice, caption dropout, noise, timestep) is seeded by (seed,
batch number, row in the global batch), so a run resumed at batch ``n`` sees exactly what an
uninterrupted run sees, and 2 processes x B rows draw what 1 process x 2B rows draws.

Example:
    >>> make_buckets(256, 32, 0.5, 2.0)[:3]
    [(320, 192), (288, 224), (256, 256)]
    >>> nearest_bucket(1000, 500, make_buckets(256, 32, 0.5, 2.0))
    (320, 192)
    >>> plan = BatchPlan([(64, 64, 0)] * 5 + [(96, 32, 0)] * 4, global_batch=2, seed=0)
    >>> plan.batches_per_epoch, plan.unused_per_epoch
    (4, 1)
    >>> plan.batch(0) == BatchPlan([(64, 64, 0)] * 5 + [(96, 32, 0)] * 4, 2, 0).batch(0)
    True
"""

from __future__ import annotations

import math
from typing import Hashable, Sequence

__all__ = ["make_buckets", "nearest_bucket", "BatchPlan", "fit_image", "to_tensor", "sample_rng"]


def make_buckets(resolution: int, multiple: int, min_aspect: float = 0.5,
                 max_aspect: float = 2.0) -> list[tuple[int, int]]:
    """(width, height) pairs, multiples of ``multiple``, area at most ``resolution**2``, widest first."""
    area = resolution * resolution
    found = {(resolution // multiple * multiple,) * 2}
    height = multiple
    while height <= area // multiple:
        width = area // height // multiple * multiple
        if width >= multiple and min_aspect <= width / height <= max_aspect:
            found.add((width, height))
        height += multiple
    return sorted(found, key=lambda wh: -wh[0] / wh[1])


def nearest_bucket(width: int, height: int, buckets: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The bucket whose aspect ratio is nearest (in log scale) to width/height."""
    ratio = math.log(width / height)
    return min(buckets, key=lambda wh: (abs(math.log(wh[0] / wh[1]) - ratio), -wh[0] * wh[1]))


def sample_rng(seed: int, *keys: int):
    """A numpy Generator seeded by (seed, *keys): the same numbers in every process."""
    import numpy as np

    return np.random.default_rng([seed, *keys])


class BatchPlan:
    """Global batches of sample indices, each from one bucket key, reproducible from (seed, n)."""

    def __init__(self, keys: Sequence[Hashable], global_batch: int, seed: int) -> None:
        self.global_batch, self.seed = global_batch, seed
        groups: dict[Hashable, list[int]] = {}
        for index, key in enumerate(keys):
            groups.setdefault(key, []).append(index)
        self.groups = dict(sorted(groups.items()))
        self.batches_per_epoch = sum(len(v) // global_batch for v in self.groups.values())
        self.unused_per_epoch = sum(len(v) % global_batch for v in self.groups.values())
        if self.batches_per_epoch == 0:
            sizes = ", ".join(f"{k}: {len(v)}" for k, v in self.groups.items())
            raise ValueError(f"no bucket holds a full global batch of {global_batch} samples "
                             f"(bucket sizes {sizes}); lower run.batch_size or turn data.buckets off")
        self._epoch_cache: tuple[int, list[tuple[Hashable, list[int]]]] | None = None

    def _epoch(self, epoch: int) -> list[tuple[Hashable, list[int]]]:
        if self._epoch_cache and self._epoch_cache[0] == epoch:
            return self._epoch_cache[1]
        rng = sample_rng(self.seed, 1, epoch)
        batches = []
        for key, members in self.groups.items():
            order = [members[i] for i in rng.permutation(len(members))]
            for start in range(0, len(order) - self.global_batch + 1, self.global_batch):
                batches.append((key, order[start:start + self.global_batch]))
        batches = [batches[i] for i in rng.permutation(len(batches))]
        self._epoch_cache = (epoch, batches)
        return batches

    def batch(self, number: int) -> tuple[Hashable, list[int]]:
        """Global batch ``number`` (counting from 0 across epochs): (bucket key, sample indices)."""
        epoch, within = divmod(number, self.batches_per_epoch)
        return self._epoch(epoch)[within]


def fit_image(image, width: int, height: int):
    """Resize (bicubic) so the image covers width x height, then centre-crop to exactly that."""
    from PIL import Image

    scale = max(width / image.width, height / image.height)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    if size != image.size:
        image = image.resize(size, Image.BICUBIC)
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


def to_tensor(image):
    """A PIL RGB image as a (3, H, W) float tensor in [-1, 1]."""
    import numpy as np
    import torch

    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()
