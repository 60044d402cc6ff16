"""Exact and near-duplicate images by perceptual hash, without comparing all pairs.

Multi-index hashing: a 64-bit hash is cut into ``distance + 1`` chunks; two hashes within
Hamming distance ``distance`` agree exactly on at least one chunk (pigeonhole), so only hashes
sharing a chunk value are compared. With well-spread hashes each image meets a handful of
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

from typing import Sequence


def _chunks(bits: int, parts: int) -> list[tuple[int, int]]:
    """(shift, mask) of ``parts`` nearly equal chunks covering ``bits`` bits."""
    out, start = [], 0
    for index in range(parts):
        width = bits // parts + (1 if index < bits % parts else 0)
        out.append((start, (1 << width) - 1))
        start += width
    return out


def find_duplicates(hashes: Sequence[int], distance: int, bits: int = 64) -> dict[int, tuple[int, int]]:
    """``{position: (position of the kept original, Hamming distance)}`` for every duplicate.

    Candidate pairs (equal on at least one of ``distance + 1`` chunks) are found with numpy by
    sorting each chunk's values; only candidates within the distance reach the Python loop that
    applies keep-first in order.
    """
    import numpy as np

    if not 0 <= distance < bits <= 64:
        raise ValueError(f"need 0 <= distance < bits <= 64, got distance={distance}, bits={bits}")
    values = np.asarray([int(h) for h in hashes], dtype=np.uint64)
    later_parts, earlier_parts = [], []
    for shift, mask in _chunks(bits, distance + 1):
        keys = (values >> np.uint64(shift)) & np.uint64(mask)
        order = np.argsort(keys, kind="stable")  # within a key, positions stay ascending
        ordered = keys[order]
        offset = 1
        while offset < len(ordered):
            same = ordered[offset:] == ordered[:-offset]
            if not same.any():
                break
            earlier_parts.append(order[:-offset][same])
            later_parts.append(order[offset:][same])
            offset += 1
    if not later_parts:
        return {}
    later, earlier = np.concatenate(later_parts), np.concatenate(earlier_parts)
    gaps = np.bitwise_count(values[later] ^ values[earlier])
    close = gaps <= distance
    later, earlier, gaps = later[close], earlier[close], gaps[close]
    pairs = np.unique(later.astype(np.int64) * len(values) + earlier)  # sorted by (later, earlier)
    gap_of = {(int(a), int(b)): int(g) for a, b, g in zip(later, earlier, gaps)}
    kept = np.ones(len(values), dtype=bool)
    duplicates: dict[int, tuple[int, int]] = {}
    for code in pairs.tolist():
        position, original = divmod(code, len(values))
        if position in duplicates or not kept[original]:
            continue
        duplicates[position] = (original, gap_of[(position, original)])
        kept[position] = False
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
