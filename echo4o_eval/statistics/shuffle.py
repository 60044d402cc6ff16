"""``numpy.random.default_rng(seed).permutation(items)`` in plain Python, draw for draw.

The jackknife deals prompts into groups with numpy's default generator (PCG64 seeded through
SeedSequence). Importing numpy costs 0.06-0.15 s at the end of every scored run, after the last
judge reply, for a few hundred random numbers, so this module reproduces the same generator
and the same Fisher-Yates shuffle (numpy's ``random_interval``: masked rejection on 32-bit
draws) exactly: the groups, and so the intervals, are those numpy gives. The tests compare the
two on many seeds and sizes.

Example:
    >>> Generator(0).permutation([10, 11, 12, 13, 14])  # numpy: default_rng(0).permutation
    [12, 14, 13, 10, 11]
"""

from __future__ import annotations

from itertools import cycle
from typing import Sequence, TypeVar

T = TypeVar("T")
MASK32, MASK64, MASK128 = (1 << 32) - 1, (1 << 64) - 1, (1 << 128) - 1
PCG_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645
INIT_A, MULT_A, INIT_B, MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
MIX_MULT_L, MIX_MULT_R, POOL_SIZE = 0xCA01F9DD, 0x4973F715, 4


def _words(seed: int) -> list[int]:
    """A non-negative int as 32-bit words, least significant first ([0] for 0)."""
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    words = [seed & MASK32]
    seed >>= 32
    while seed:
        words.append(seed & MASK32)
        seed >>= 32
    return words


def _seed_sequence_state(seed: int, n_words: int) -> list[int]:
    """``SeedSequence(seed).generate_state(n_words, np.uint32)``."""
    entropy = _words(seed)
    hash_const = INIT_A

    def hashmix(value: int) -> int:
        nonlocal hash_const
        value ^= hash_const
        hash_const = (hash_const * MULT_A) & MASK32
        value = (value * hash_const) & MASK32
        return value ^ (value >> 16)

    def mix(x: int, y: int) -> int:
        result = (MIX_MULT_L * x - MIX_MULT_R * y) & MASK32
        return result ^ (result >> 16)

    pool = [hashmix(entropy[i] if i < len(entropy) else 0) for i in range(POOL_SIZE)]
    for src in range(POOL_SIZE):
        for dst in range(POOL_SIZE):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(POOL_SIZE, len(entropy)):
        for dst in range(POOL_SIZE):
            pool[dst] = mix(pool[dst], hashmix(entropy[src]))
    state, hash_const = [], INIT_B
    for value in (v for v, _ in zip(cycle(pool), range(n_words))):
        value ^= hash_const
        hash_const = (hash_const * MULT_B) & MASK32
        value = (value * hash_const) & MASK32
        state.append(value ^ (value >> 16))
    return state


class Generator:
    """numpy's ``default_rng(seed)`` (PCG64), only what a permutation needs."""

    def __init__(self, seed: int) -> None:
        w = _seed_sequence_state(seed, 8)
        seed_words = [w[2 * i] | (w[2 * i + 1] << 32) for i in range(4)]  # 4 uint64, little-endian
        initstate = (seed_words[0] << 64) | seed_words[1]
        self._inc = (((seed_words[2] << 64) | seed_words[3]) << 1 | 1) & MASK128
        self._state = 0
        self._step()
        self._state = (self._state + initstate) & MASK128
        self._step()
        self._spare: int | None = None

    def _step(self) -> None:
        self._state = (self._state * PCG_MULTIPLIER + self._inc) & MASK128

    def next_uint64(self) -> int:
        """PCG64's XSL-RR output of the next state."""
        self._step()
        state = self._state
        rotation = state >> 122
        value = ((state >> 64) ^ state) & MASK64
        return ((value >> rotation) | (value << (64 - rotation))) & MASK64

    def next_uint32(self) -> int:
        """Low half of a 64-bit draw, then its high half (numpy buffers the spare half)."""
        if self._spare is not None:
            value, self._spare = self._spare, None
            return value
        value = self.next_uint64()
        self._spare = value >> 32
        return value & MASK32

    def interval(self, high: int) -> int:
        """A uniform integer in [0, high]: masked rejection, as numpy's ``random_interval``."""
        if high == 0:
            return 0
        mask = (1 << high.bit_length()) - 1
        draw = self.next_uint32 if high <= MASK32 else self.next_uint64
        while True:
            value = draw() & mask
            if value <= high:
                return value

    def permutation(self, items: Sequence[T]) -> list[T]:
        """A shuffled copy of ``items`` (numpy's Fisher-Yates, from the last item down)."""
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.interval(i)
            out[i], out[j] = out[j], out[i]
        return out
