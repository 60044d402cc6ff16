"""GenEval++ evaluator for detector judges: our offline design (see DETECTOR.md).

Per image: :func:`echo4o_eval.benchmarks.geneval_pp.rules.evaluate_geneval_pp`. Aggregate: per-tag
accuracy, ``overall`` = unweighted mean of the tag accuracies (as the official GenEval++ script
averages its tags, without its rounding to 4 digits), ``image_accuracy`` over all images.
Options: ``mode`` ("default": unscored images are left out and reported as coverage;
"parity": they count as wrong, as the official script counts failed judge calls),
``count_mode`` ("exact" | "at_least"), ``region_margin``, and GenEval's filtering options.

Example:
    >>> from echo4o_eval.records.types import Sample, Generation, Judgement, Detection, Status
    >>> ev = GenEvalPlusPlusDetectorEvaluator({})
    >>> row = {"tag": "counting", "include": [{"class": "cup", "count": 1}], "prompt": "a cup"}
    >>> sample = Sample("1", 0, "a cup", "counting", row)
    >>> gen = Generation("1", 0, 0, Status.OK, image_path="1.png")
    >>> j = Judgement("main", "x", Status.OK, detections=(Detection("cup", (0, 0, 9, 9), 0.95),),
    ...               image_size=(64, 64))
    >>> ev.score(sample, gen, [j]).values
    {'correct': True}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from echo4o_eval.benchmarks.geneval.detector import (
    MODES,
    detector_requests,
    failed_score,
    main_judgement,
)
from echo4o_eval.benchmarks.geneval_pp.rules import GenEvalPPOptions, evaluate_geneval_pp
from echo4o_eval.scoring.aggregation import failure_note, make_result, tags_in_order
from echo4o_eval.scoring.geneval_rules import GenEvalRuleOptions
from echo4o_eval.scoring.judged import builtin_spec, evaluator_options, options_dict
from echo4o_eval.records.types import (
    BenchmarkResult,
    Generation,
    JudgeRequest,
    Judgement,
    MetricValue,
    Sample,
    SampleScore,
    Status,
)


@dataclass(frozen=True)
class GenEvalPPDetectorOptions(GenEvalRuleOptions):
    """GenEval++ detector evaluator options: ``mode``, ``count_mode``, ``region_margin`` and
    GenEval's filtering thresholds (flat, as given with ``--eval-option``)."""

    mode: Literal["default", "parity"] = "default"
    count_mode: Literal["exact", "at_least"] = "exact"
    region_margin: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"geneval_pp mode must be one of {MODES}, not {self.mode!r}")
        self.rules()  # validates count_mode and region_margin

    def rules(self) -> GenEvalPPOptions:
        """The GenEval++ rule options (filtering thresholds nested)."""
        filtering = GenEvalRuleOptions(**{f.name: getattr(self, f.name)
                                          for f in dataclasses.fields(GenEvalRuleOptions)})
        return GenEvalPPOptions(self.count_mode, self.region_margin, filtering)


class GenEvalPlusPlusDetectorEvaluator:
    """GenEval++ scored from detections and CLIP colours, no API calls."""

    judge_kind = "detector"

    def __init__(self, options: Mapping[str, Any] | GenEvalPPDetectorOptions | None = None, spec=None):
        self.config: GenEvalPPDetectorOptions = evaluator_options(GenEvalPPDetectorOptions, options)
        self.mode = self.config.mode
        self.rules = self.config.rules()
        self.options = options_dict(self.config)
        self.spec = builtin_spec("geneval_pp", spec)

    def requests(self, sample: Sample, generation: Generation) -> list[JudgeRequest]:
        """One detector request per image, asking colours for the colour clauses' classes."""
        return detector_requests(sample, generation)

    def score(
        self, sample: Sample, generation: Generation, judgements: Sequence[Judgement]
    ) -> SampleScore:
        """``values["correct"]`` (bool); ``reason`` lists every failed clause."""
        failed = failed_score(sample, generation, judgements)
        if failed is not None:
            return failed
        judgement = main_judgement(judgements)
        outcome = evaluate_geneval_pp(
            judgement.detections, sample.metadata, judgement.image_size, self.rules  # type: ignore[union-attr,arg-type]
        )
        values = {"correct": bool(outcome.correct)} if outcome.status is Status.OK else {}
        return SampleScore(
            sample.id, generation.image_index, sample.tag, outcome.status, values, outcome.reason
        )

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[SampleScore]) -> BenchmarkResult:
        """Per-tag ``accuracy``; ``overall`` (mean of tags) and ``image_accuracy``."""
        tags: dict[str, list[int]] = {}  # tag -> [correct, entered, total]
        for sample in samples:
            tags.setdefault(sample.tag, [0, 0, 0])
        for score in scores:
            counts = tags.setdefault(score.tag, [0, 0, 0])
            counts[2] += 1
            if score.status is Status.OK:
                counts[0] += bool(score.values["correct"])
                counts[1] += 1
            elif self.mode == "parity":
                counts[1] += 1
        n_in = sum(c[1] for c in tags.values())
        n_correct = sum(c[0] for c in tags.values())
        per_tag = {
            tag: {"accuracy": MetricValue(c[0] / c[1] if c[1] else None, c[1], c[2])}
            for tag, c in tags.items()
        }
        notes = [failure_note(scores, self.mode == "parity", parity_treatment="counted as wrong")]
        empty = [tag for tag, c in tags.items() if not c[1]]
        if empty:
            notes.append(f"overall not computed: no scored image for tag(s) {', '.join(empty)}")
        values = [m["accuracy"].value for m in per_tag.values()]
        overall = sum(values) / len(values) if values and not empty else None  # type: ignore[arg-type]
        metrics = {
            "overall": MetricValue(overall, n_in, len(scores)),
            "image_accuracy": MetricValue(n_correct / n_in if n_in else None, n_in, len(scores)),
        }
        notes.append(f"detector mode: count {self.rules.count_mode}, region margin "
                     f"{self.rules.region_margin}")
        return make_result(self.spec, self.mode, samples, scores, metrics, per_tag, notes)

    def metric_terms(self, samples: Sequence[Sample], scores: Sequence[SampleScore]):
        """The metrics of :meth:`aggregate` from per-prompt counts (correct and entered images
        per tag), so the jackknife's replicates need no re-run (echo4o_eval.statistics.terms)."""
        from echo4o_eval.statistics.terms import TermsBuilder, tag_accuracies

        terms = TermsBuilder()
        for sample in samples:
            terms.add(sample.id, ("seen", sample.tag))
        for score in scores:
            terms.add(score.sample_id, ("seen", score.tag))
            ok = score.status is Status.OK
            if ok and score.values["correct"]:
                terms.add(score.sample_id, ("correct", score.tag))
                terms.add(score.sample_id, "correct")
            if ok or self.mode == "parity":
                terms.add(score.sample_id, ("in", score.tag))
                terms.add(score.sample_id, "in")

        tags = tags_in_order(samples, scores)

        def compute(t):
            return tag_accuracies(t, tags)

        return terms.build(compute)
