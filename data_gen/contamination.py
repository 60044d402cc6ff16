"""Benchmark contamination: does a training prompt overlap an evaluation prompt?

Prompts are compared as lower-case word sequences (punctuation dropped). A sample is
contaminated by a benchmark prompt when

* the two are equal (``exact``), or
* the benchmark prompt is short (fewer than ``ngram`` words, at least ``min_words``) and occurs
  inside ours as a contiguous word sequence (``contained``), or
* at least ``overlap`` of the benchmark prompt's word n-grams occur in ours (``ngram``).

Lookups go through an n-gram -> prompts index, so checking a sample costs its own n-grams,
not one comparison per benchmark prompt. The prompts are read through each benchmark's own
loader and assets (a local data dir or the pinned download).

Example:
    >>> index = ContaminationIndex([("geneval", "7", "a photo of a cat"),
    ...     ("dpg_bench", "x", "A tall glass vase holds three sunflowers beside an open window at dawn.")],
    ...     ngram=6, overlap=0.6)
    >>> index.match("A photo of a cat!")["kind"], index.match("a photo of a cat made of ice")["kind"]
    ('exact', 'contained')
    >>> index.match("a tall glass vase holds three sunflowers beside an open door")["kind"]
    'ngram'
    >>> index.match("a cat made of ice") is None
    True
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Sequence

WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> tuple[str, ...]:
    """Lower-case word tokens.

    >>> words("A Photo, of a CAT!")
    ('a', 'photo', 'of', 'a', 'cat')
    """
    return tuple(WORD.findall(text.lower()))


def _ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


class ContaminationIndex:
    """Benchmark prompts indexed for exact, containment and n-gram overlap lookups."""

    def __init__(self, prompts: Sequence[tuple[str, str, str]], ngram: int = 6, overlap: float = 0.6,
                 min_words: int = 4) -> None:
        self.ngram, self.overlap, self.min_words = ngram, overlap, min_words
        self.prompts = list(prompts)
        self.exact: dict[tuple[str, ...], int] = {}
        self.short: dict[int, dict[tuple[str, ...], int]] = defaultdict(dict)
        self.grams: dict[tuple[str, ...], list[int]] = defaultdict(list)
        self.sizes: list[int] = []
        for position, (_, _, text) in enumerate(self.prompts):
            tokens = words(text)
            self.exact.setdefault(tokens, position)
            grams = _ngrams(tokens, ngram)
            self.sizes.append(len(grams))
            if not grams and len(tokens) >= min_words:
                self.short[len(tokens)].setdefault(tokens, position)
            for gram in grams:
                self.grams[gram].append(position)

    def __len__(self) -> int:
        return len(self.prompts)

    def _hit(self, position: int, kind: str, score: float) -> dict[str, Any]:
        benchmark, prompt_id, text = self.prompts[position]
        return {"benchmark": benchmark, "prompt_id": prompt_id, "benchmark_prompt": text,
                "kind": kind, "score": round(score, 4)}

    def match(self, text: str) -> dict[str, Any] | None:
        """The strongest overlap of ``text`` with a benchmark prompt, or None."""
        tokens = words(text)
        if tokens in self.exact:
            return self._hit(self.exact[tokens], "exact", 1.0)
        for length, table in self.short.items():
            for start in range(len(tokens) - length + 1):
                position = table.get(tokens[start:start + length])
                if position is not None:
                    return self._hit(position, "contained", 1.0)
        hits: dict[int, int] = defaultdict(int)
        for gram in _ngrams(tokens, self.ngram):
            for position in self.grams.get(gram, ()):
                hits[position] += 1
        best = max(hits.items(), key=lambda kv: (kv[1] / self.sizes[kv[0]], -kv[0]), default=None)
        if best is not None and best[1] / self.sizes[best[0]] >= self.overlap:
            return self._hit(best[0], "ngram", best[1] / self.sizes[best[0]])
        return None


def benchmark_prompts(names: Sequence[str], data_dir: str | None, allow_download: bool,
                      require: bool = False) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    """Every prompt of the named benchmarks via their loaders; and per benchmark the number
    of prompts loaded or the reason it could not be loaded (an error when ``require``)."""
    from echo4o_eval.assets import Assets
    from echo4o_eval.spec import load_benchmark

    prompts: list[tuple[str, str, str]] = []
    loaded: dict[str, Any] = {}
    for name in names:
        try:
            benchmark = load_benchmark(name)
            assets = Assets(benchmark.spec, data_dir=data_dir, allow_download=allow_download)
            samples = benchmark.load_samples(assets, None)
        except Exception as exc:  # each loader raises its own kinds; the reason is recorded
            if require:
                raise RuntimeError(f"contamination check: cannot load benchmark {name!r}: {exc}") from exc
            loaded[name] = {"prompts": 0, "error": f"{type(exc).__name__}: {exc}"[:500]}
            continue
        for sample in samples:
            prompts.append((name, str(sample.id), sample.prompt))
        loaded[name] = {"prompts": len(samples)}
    return prompts, loaded
