"""Exact and near-duplicate images by perceptual hash, without comparing all pairs.

Multi-index hashing: a 64-bit hash is cut into ``distance + 1`` chunks; two hashes within
Hamming distance ``distance`` agree exactly on at least one chunk (pigeonhole), so only hashes
sharing a chunk value are compared. With well-spread hashes each lookup touches a handful of
candidates instead of every earlier image. :func:`all_pairs_duplicates` is the quadratic
baseline the benchmark (bench/synth_scale.py) compares against.

The first image of a group (in the given order) is kept; each later one is a duplicate of the
earliest kept image within the distance.

Example:
    >>> hashes = [0b1111, 0b1110, 1 << 40, 0b1111]
    >>> find_duplicates(hashes, distance=1)
    {1: (0, 1), 3: (0, 0)}
    >>> find_duplicates(hashes, distance=1) == all_pairs_duplicates(hashes, distance=1)
    True
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence


def _chunks(bits: int, parts: int) -> list[tuple[int, int]]:
    """(shift, mask) of ``parts`` nearly equal chunks covering ``bits`` bits."""
    out, start = [], 0
    for index in range(parts):
        width = bits // parts + (1 if index < bits % parts else 0)
        out.append((start, (1 << width) - 1))
        start += width
    return out


class HashIndex:
    """Hashes added one at a time; :meth:`nearest` finds an earlier one within ``distance``."""

    def __init__(self, distance: int, bits: int = 64) -> None:
        if not 0 <= distance < bits:
            raise ValueError(f"distance must be in [0, {bits}), got {distance}")
        self.distance = distance
        self.chunks = _chunks(bits, distance + 1)
        self.tables: list[dict[int, list[int]]] = [defaultdict(list) for _ in self.chunks]
        self.values: list[int] = []

    def nearest(self, value: int) -> tuple[int, int] | None:
        """(position, distance) of the earliest added hash within the distance, or None."""
        best: tuple[int, int] | None = None
        for (shift, mask), table in zip(self.chunks, self.tables):
            for position in table.get((value >> shift) & mask, ()):
                if best is not None and position >= best[0]:
                    continue
                gap = (self.values[position] ^ value).bit_count()
                if gap <= self.distance:
                    best = (position, gap)
        return best

    def add(self, value: int) -> int:
        """Index ``value``; returns its position."""
        position = len(self.values)
        self.values.append(value)
        for (shift, mask), table in zip(self.chunks, self.tables):
            table[(value >> shift) & mask].append(position)
        return position


def find_duplicates(hashes: Sequence[int], distance: int, bits: int = 64) -> dict[int, tuple[int, int]]:
    """``{position: (position of the kept original, Hamming distance)}`` for every duplicate."""
    index = HashIndex(distance, bits)
    kept_positions: list[int] = []
    duplicates: dict[int, tuple[int, int]] = {}
    for position, value in enumerate(hashes):
        found = index.nearest(value)
        if found is not None:
            duplicates[position] = (kept_positions[found[0]], found[1])
            continue
        index.add(value)
        kept_positions.append(position)
    return duplicates


def all_pairs_duplicates(hashes: Sequence[int], distance: int) -> dict[int, tuple[int, int]]:
    """The same answer by comparing each hash with every kept earlier one (quadratic baseline)."""
    kept: list[int] = []
    duplicates: dict[int, tuple[int, int]] = {}
    for position, value in enumerate(hashes):
        for original in kept:
            gap = (hashes[original] ^ value).bit_count()
            if gap <= distance:
                duplicates[position] = (original, gap)
                break
        else:
            kept.append(position)
    return duplicates


def perceptual_hash(path: str, hash_size: int = 8) -> int:
    """The DCT perceptual hash (imagehash.phash) of an image as an integer of hash_size**2 bits."""
    from PIL import Image

    from echo4o_eval.optional import require_module

    imagehash = require_module("imagehash", extra="synth")
    with Image.open(path) as image:
        value = imagehash.phash(image, hash_size=hash_size)
    return int("".join("1" if bit else "0" for bit in value.hash.flatten()), 2)
