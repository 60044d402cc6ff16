"""Metrics as functions of additive per-prompt totals: the jackknife's exact shortcut.

Most benchmark metrics are functions of sums over images and prompts: correct images per tag,
images that entered a tag's mean, the sum of a score, prompts with a correct image. An evaluator
that can say so offers, next to its ``aggregate``, a method

    ``metric_terms(samples, scores) -> MetricTerms``

in which every image or prompt *adds* values to named totals (:class:`TermsBuilder`), and one
function computes every metric from the totals. A delete-a-group jackknife replicate is then
the full totals minus that group's totals: the G replicates cost one pass over the scores and
G evaluations of that function, instead of G calls of ``aggregate``. The values are those of
re-running ``aggregate`` (up to the rounding of a sum taken in another order); the tests check
this for every built-in benchmark, and the jackknife checks on every run that the function
reproduces the full-sample result before using it (else it re-runs ``aggregate``).

The compute function works on plain numbers, like ``aggregate``: ``totals[term]`` is a float
(0.0 for a term nothing added to) and it returns ``{(tag or "", metric name): value}`` with
``None`` for an undefined value. A metric it leaves out has no value in that replicate, as a
tag missing from a replicate's ``aggregate`` result. ``metric_terms`` may return None for data
it cannot express; then ``aggregate`` is re-run.

Example:
    >>> terms = TermsBuilder()
    >>> for sample_id, correct in [("a", 1), ("a", 0), ("b", 1)]:
    ...     terms.add(sample_id, "images")
    ...     terms.add(sample_id, "correct", correct)
    >>> def compute(t):
    ...     return {("", "accuracy"): t["correct"] / t["images"] if t["images"] else None}
    >>> built = terms.build(compute)
    >>> [round(v[("", "accuracy")], 3) for v in built.replicate_values({"a": 0, "b": 1}, 2)]
    [1.0, 0.5, 0.667]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable, Mapping, Sequence

MetricKey = tuple[str, str]
Compute = Callable[["Totals"], Mapping[MetricKey, "float | None"]]


class Totals(dict):
    """Each term's total in one replicate; a term nothing was added to reads 0.0."""

    def __missing__(self, term: Hashable) -> float:
        return 0.0


class TermsBuilder:
    """Collects ``(prompt, term, value)`` additions; :meth:`build` ties them to a compute function.

    The prompt of an addition is the sample id whose deletion takes the value out: an image's
    values belong to its prompt, and so do per-prompt values (e.g. "any image correct").
    """

    def __init__(self) -> None:
        self._rows: dict[str, dict[Hashable, float]] = {}

    def add(self, sample_id: str, term: Hashable, value: float = 1.0) -> None:
        """Add ``value`` to ``term`` for the prompt ``sample_id``."""
        row = self._rows.get(sample_id)
        if row is None:
            row = self._rows[sample_id] = {}
        row[term] = row.get(term, 0.0) + value

    def build(self, compute: Compute) -> "MetricTerms":
        """The :class:`MetricTerms` of what was added, computed by ``compute``."""
        return MetricTerms(self._rows, compute)


@dataclass(frozen=True)
class MetricTerms:
    """Per-prompt totals of named terms and the function that turns totals into metrics."""

    per_sample: dict[str, dict[Hashable, float]]  # sample id -> {term: its total}
    compute: Compute

    def replicate_values(self, group_of: Mapping[str, int],
                         n_groups: int) -> list[Mapping[MetricKey, float | None]]:
        """Metric values without each group in turn, then with every group (the full sample).

        ``group_of`` maps a sample id to its group; a sample it does not name is never deleted
        (as :func:`echo4o_eval.statistics.jackknife.replicates` keeps scores of unknown samples).
        Returns ``n_groups + 1`` maps: replicate 0..G-1, then the full-sample values.
        """
        group_sums: list[dict[Hashable, float]] = [{} for _ in range(n_groups + 1)]
        for sample_id, row in self.per_sample.items():
            target = group_sums[group_of.get(sample_id, n_groups)]
            for term, value in row.items():
                target[term] = target.get(term, 0.0) + value
        full: dict[Hashable, float] = {}
        for sums in group_sums:
            for term, value in sums.items():
                full[term] = full.get(term, 0.0) + value
        out = []
        for deleted in group_sums[:n_groups]:
            kept = {term: total - deleted.get(term, 0.0) for term, total in full.items()}
            out.append(self.compute(Totals(kept)))
        out.append(self.compute(Totals(full)))
        return out


def mean_of(values: Sequence[float | None], empty: float | None = None) -> float | None:
    """Plain mean of ``values``; ``empty`` when there is none or any of them is None.

    >>> mean_of([0.5, 1.0]), mean_of([0.5, None]), mean_of([], empty=0.0)
    (0.75, None, 0.0)
    """
    if not values or any(v is None for v in values):
        return empty
    return sum(values) / len(values)  # type: ignore[arg-type]


def tag_accuracies(t: Mapping, tags: Sequence[str], base: str = "in",
                   empty: float | None = None) -> dict:
    """The metrics of a per-image correct/incorrect benchmark from its totals: each seen tag's
    accuracy (``correct``/``base`` over that tag's terms), ``overall`` (the mean of the tag
    accuracies) and ``image_accuracy`` (over all images); ``empty`` where a base is 0.

    >>> from collections import defaultdict
    >>> t = defaultdict(float, {("seen", "a"): 1, ("in", "a"): 2, ("correct", "a"): 1,
    ...                         ("seen", "b"): 1, ("in", "b"): 1, "in": 3, "correct": 1})
    >>> tag_accuracies(t, ["a", "b"])
    {('a', 'accuracy'): 0.5, ('b', 'accuracy'): 0.0, ('', 'overall'): 0.25, ('', 'image_accuracy'): 0.3333333333333333}
    """
    out, values = {}, []
    for tag in tags:
        if t["seen", tag]:
            n = t[base, tag]
            values.append(t["correct", tag] / n if n else empty)
            out[tag, "accuracy"] = values[-1]
    out["", "overall"] = mean_of(values, empty)
    out["", "image_accuracy"] = t["correct"] / t[base] if t[base] else empty
    return out


def terms_hook(aggregate: Callable) -> Callable | None:
    """The ``metric_terms`` method that belongs with a bound ``aggregate``, else None.

    Only a ``metric_terms`` defined by the same class as ``aggregate`` counts: a plugin that
    overrides ``aggregate`` but inherits ``metric_terms`` keeps the plain re-runs.
    """
    owner = getattr(aggregate, "__self__", None)
    if owner is None or getattr(aggregate, "__name__", "") != "aggregate":
        return None
    hook = getattr(owner, "metric_terms", None)
    if hook is None:
        return None
    for cls in type(owner).__mro__:
        defines_aggregate = "aggregate" in vars(cls)
        defines_hook = "metric_terms" in vars(cls)
        if defines_aggregate or defines_hook:
            return hook if defines_aggregate and defines_hook else None
    return None
