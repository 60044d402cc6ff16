"""GenEval's summary: % correct images, % correct prompts, per-tag accuracy, mean of tags.

Reproduces what GenEval's official ``evaluation/summary_scores.py`` computes and prints, from
per-image records ``{"tag", "correct", "metadata"}`` (``metadata`` is the JSON string written
by the official ``evaluate_images.py``; prompts are grouped by that exact string). A prompt is
correct when any of its images is; the overall score is the unweighted mean of the per-tag
accuracies; tags are listed in order of first appearance.

Example:
    >>> records = [{"tag": "a", "correct": True, "metadata": "p1"},
    ...            {"tag": "a", "correct": False, "metadata": "p1"},
    ...            {"tag": "b", "correct": False, "metadata": "p2"}]
    >>> s = summarize_geneval(records)
    >>> s.total_prompts, s.frac_correct_prompts, s.overall
    (2, 0.5, 0.25)
    >>> print(s.official_text().splitlines()[-1])
    Overall score (avg. over tasks): 0.25000
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class TagSummary:
    """Accuracy of one tag."""

    tag: str
    n_correct: int
    n_images: int

    @property
    def frac_correct(self) -> float:
        """n_correct / n_images."""
        return self.n_correct / self.n_images


@dataclass(frozen=True)
class GenEvalSummary:
    """The official summary numbers; fractions are in [0, 1]."""

    total_images: int
    total_prompts: int
    frac_correct_images: float
    frac_correct_prompts: float
    per_tag: tuple[TagSummary, ...]

    @property
    def overall(self) -> float:
        """Unweighted mean of the per-tag accuracies (the official "Overall score")."""
        return sum(t.frac_correct for t in self.per_tag) / len(self.per_tag)

    def official_text(self) -> str:
        """The text the official summary script prints, byte for byte (ends with a newline).

        >>> s = summarize_geneval([{"tag": "counting", "correct": True, "metadata": "m"}])
        >>> print(s.official_text())  # doctest: +NORMALIZE_WHITESPACE
        Summary
        =======
        Total images: 1
        Total prompts: 1
        % correct images: 100.00%
        % correct prompts: 100.00%
        <BLANKLINE>
        Task breakdown
        ==============
        counting         = 100.00% (1 / 1)
        <BLANKLINE>
        Overall score (avg. over tasks): 1.00000
        <BLANKLINE>
        """
        lines = [
            "Summary",
            "=======",
            f"Total images: {self.total_images}",
            f"Total prompts: {self.total_prompts}",
            f"% correct images: {self.frac_correct_images:.2%}",
            f"% correct prompts: {self.frac_correct_prompts:.2%}",
            "",
            "Task breakdown",
            "==============",
        ]
        for t in self.per_tag:
            lines.append(f"{t.tag:<16} = {t.frac_correct:.2%} ({t.n_correct} / {t.n_images})")
        lines += ["", f"Overall score (avg. over tasks): {self.overall:.5f}", ""]
        return "\n".join(lines)


def _correct(value: Any, where: int) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"record {where}: 'correct' must be true or false, got {value!r}")


def summarize_geneval(records: Iterable[Mapping[str, Any]]) -> GenEvalSummary:
    """Summarise per-image records ``{"tag", "correct", "metadata"}``.

    ``metadata`` may be the official JSON string or a dict (then serialised as the official
    script writes it, ``json.dumps`` with default separators). Raises ValueError on no records.

    >>> summarize_geneval([{"tag": "t", "correct": False, "metadata": {"prompt": "x"}}]).overall
    0.0
    """
    tag_counts: dict[str, list[int]] = {}
    prompts: dict[str, bool] = {}
    n_images = n_correct = 0
    for where, record in enumerate(records):
        correct = _correct(record["correct"], where)
        meta = record["metadata"]
        key = meta if isinstance(meta, str) else json.dumps(meta)
        prompts[key] = prompts.get(key, False) or correct
        counts = tag_counts.setdefault(record["tag"], [0, 0])
        counts[0] += correct
        counts[1] += 1
        n_images += 1
        n_correct += correct
    if not n_images:
        raise ValueError("no GenEval results to summarise")
    return GenEvalSummary(
        total_images=n_images,
        total_prompts=len(prompts),
        frac_correct_images=n_correct / n_images,
        frac_correct_prompts=sum(prompts.values()) / len(prompts),
        per_tag=tuple(TagSummary(tag, c, n) for tag, (c, n) in tag_counts.items()),
    )


def read_results_jsonl(text: str) -> list[dict[str, Any]]:
    """Parse an official-schema ``results.jsonl`` text into records (blank lines skipped).

    >>> read_results_jsonl('{"tag": "t", "correct": true, "metadata": "{}"}\\n')[0]["correct"]
    True
    """
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"results.jsonl line {number}: not JSON ({err})") from None
    return out
