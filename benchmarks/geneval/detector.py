"""GenEval evaluator for detector judges (Mask2Former/mmdet/open-vocabulary + CLIP colours).

The runner builds it through ``benchmark.make_evaluator("detector", options)`` and calls
``requests`` -> judge -> ``score`` per image, then ``aggregate`` and ``extra_outputs``.
Scoring is :func:`echo4o_eval.scoring.geneval_rules.evaluate_geneval`; aggregation is the
official summary (:mod:`echo4o_eval.benchmarks.geneval.summary`).

Options (all recorded in the manifest): ``mode`` ("default": images that could not be scored
are left out of every mean and reported as coverage; "parity": they count as wrong, as the
official script would, and a note says how many), plus every field of
:class:`~echo4o_eval.scoring.geneval_rules.GenEvalRuleOptions` (``confidence_threshold``,
``counting_threshold``, ``max_objects``, ``max_overlap``, ``position_threshold``, ``float32``).

Example:
    >>> from echo4o_eval.records.types import Sample, Generation, Judgement, Detection, Status
    >>> ev = GenEvalEvaluator({})
    >>> sample = Sample("00000", 0, "a photo of a bench", "single_object",
    ...                 {"tag": "single_object", "include": [{"class": "bench", "count": 1}],
    ...                  "prompt": "a photo of a bench"})
    >>> gen = Generation("00000", 0, 42, Status.OK, image_path="0000.png")
    >>> [r.key for r in ev.requests(sample, gen)]
    ['main']
    >>> j = Judgement("main", "fake", Status.OK, detections=(Detection("bench", (0, 0, 9, 9), 0.9),))
    >>> ev.score(sample, gen, [j]).values["correct"]
    True
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from echo4o_eval.benchmarks.geneval.summary import summarize_geneval
from echo4o_eval.scoring.aggregation import failure_note, make_result
from echo4o_eval.scoring.geneval_rules import GENEVAL_COLORS, GenEvalRuleOptions, evaluate_geneval
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

MODES = ("default", "parity")


@dataclass(frozen=True)
class GenEvalOptions(GenEvalRuleOptions):
    """GenEval evaluator options: ``mode`` plus every threshold of the rules."""

    mode: Literal["default", "parity"] = "default"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"geneval mode must be one of {MODES}, not {self.mode!r}")

    def rules(self) -> GenEvalRuleOptions:
        """The rule thresholds alone."""
        return GenEvalRuleOptions(**{f.name: getattr(self, f.name)
                                     for f in dataclasses.fields(GenEvalRuleOptions)})


def classes_needing_color(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """Classes whose instances need a colour prediction (include clauses with a colour).

    >>> classes_needing_color({"include": [{"class": "cup", "count": 1, "color": "red"},
    ...                                    {"class": "dog", "count": 1}]})
    ('cup',)
    """
    names = []
    for clause in metadata.get("include", []) or []:
        if isinstance(clause, Mapping) and "color" in clause and clause.get("class") not in names:
            names.append(clause.get("class"))
    return tuple(str(n) for n in names if n is not None)


def clause_classes(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """Every class named by an include or exclude clause, in order, without repeats.

    >>> clause_classes({"include": [{"class": "cup"}], "exclude": [{"class": "cup"}]})
    ('cup',)
    """
    names: list[str] = []
    for key in ("include", "exclude"):
        for clause in metadata.get(key, []) or []:
            if isinstance(clause, Mapping) and clause.get("class") not in names:
                names.append(clause.get("class"))
    return tuple(str(n) for n in names if n is not None)


def main_judgement(judgements: Sequence[Judgement], key: str = "main") -> Judgement | None:
    """The judgement answering the ``main`` request, if any."""
    for judgement in judgements:
        if judgement.key == key:
            return judgement
    return None


def failed_score(sample: Sample, generation: Generation, judgements: Sequence[Judgement]):
    """A SampleScore for an image that cannot be scored, or None when it can.

    Propagates the generation's status, then the judge's; a missing judgement or one without
    detections is a JUDGE_ERROR.
    """

    def fail(status: Status, reason: str) -> SampleScore:
        """A SampleScore with ``status`` and ``reason`` and no values."""
        return SampleScore(sample.id, generation.image_index, sample.tag, status, {}, reason)

    if generation.status is not Status.OK:
        return fail(generation.status, generation.error or f"generation {generation.status.value}")
    judgement = main_judgement(judgements)
    if judgement is None:
        return fail(Status.JUDGE_ERROR, "no judgement for this image")
    if judgement.status is not Status.OK:
        return fail(judgement.status, judgement.error or f"judge {judgement.status.value}")
    if judgement.detections is None:
        return fail(Status.JUDGE_ERROR, f"judge {judgement.judge_id} returned no detections")
    return None


def detector_requests(sample: Sample, generation: Generation) -> list[JudgeRequest]:
    """The one detector request of an image: colours for the colour clauses' classes, chosen
    among GenEval's colours, and the clause classes (open-vocabulary detectors search for
    those); none for failed generations."""
    if generation.status is not Status.OK or not generation.image_path:
        return []
    return [
        JudgeRequest(
            key="main",
            images=(generation.image_path,),
            color_classes=classes_needing_color(sample.metadata),
            params={"classes": list(clause_classes(sample.metadata)), "colors": list(GENEVAL_COLORS)},
        )
    ]


class GenEvalEvaluator:
    """GenEval with a detector judge; see the module docstring for options."""

    judge_kind = "detector"

    def __init__(self, options: Mapping[str, Any] | GenEvalOptions | None = None, spec=None):
        self.config: GenEvalOptions = evaluator_options(GenEvalOptions, options)
        self.rules = self.config.rules()
        self.mode = self.config.mode
        self.options = options_dict(self.config)
        self.spec = builtin_spec("geneval", spec)

    def requests(self, sample: Sample, generation: Generation) -> list[JudgeRequest]:
        """One detector request per generated image; none for failed generations."""
        return detector_requests(sample, generation)

    def score(
        self, sample: Sample, generation: Generation, judgements: Sequence[Judgement]
    ) -> SampleScore:
        """Apply the GenEval rules; values are ``correct`` (bool) and ``details`` (kept boxes)."""
        failed = failed_score(sample, generation, judgements)
        if failed is not None:
            return failed
        detections = main_judgement(judgements).detections  # type: ignore[union-attr]
        outcome = evaluate_geneval(detections, sample.metadata, self.rules)
        if outcome.status is not Status.OK:
            return SampleScore(
                sample.id, generation.image_index, sample.tag, outcome.status, {}, outcome.reason
            )
        values = {"correct": bool(outcome.correct), "details": outcome.kept_json()}
        return SampleScore(
            sample.id, generation.image_index, sample.tag, Status.OK, values, outcome.reason
        )

    def _records(self, samples: Sequence[Sample], scores: Sequence[SampleScore]):
        """(score, sample, correct) per image entering the summary, in score order."""
        by_id = {s.id: s for s in samples}
        out = []
        for score in scores:
            sample = by_id.get(score.sample_id)
            if sample is None:
                raise ValueError(f"score for unknown sample id {score.sample_id!r}")
            if score.status is Status.OK:
                out.append((score, sample, bool(score.values["correct"])))
            elif self.mode == "parity":
                out.append((score, sample, False))
        return out

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[SampleScore]) -> BenchmarkResult:
        """Official summary over scored images: metrics overall, image_accuracy, prompt_accuracy;
        per tag ``accuracy``. In default mode non-ok images are out of the means (coverage)."""
        records = self._records(samples, scores)
        tag_totals: dict[str, int] = {}
        for score in scores:
            tag_totals[score.tag] = tag_totals.get(score.tag, 0) + 1
        for sample in samples:  # tags with no image at all still show as uncovered
            tag_totals.setdefault(sample.tag, 0)
        prompts_total = len({s.id for s in samples})
        notes = [failure_note(scores, self.mode == "parity", parity_treatment="counted as wrong")]
        summary = None
        if records:
            summary = summarize_geneval(
                {"tag": sample.tag, "correct": correct, "metadata": sample.id}
                for _, sample, correct in records
            )
        tag_summaries = {t.tag: t for t in summary.per_tag} if summary else {}
        per_tag = {}
        for tag, total in tag_totals.items():
            t = tag_summaries.get(tag)
            per_tag[tag] = {
                "accuracy": MetricValue(t.frac_correct if t else None, t.n_images if t else 0, total)
            }
        n_in = len(records)
        missing_tags = [tag for tag in tag_totals if tag not in tag_summaries]
        if missing_tags:
            notes.append(f"overall not computed: no scored image for tag(s) {', '.join(missing_tags)}")
        overall = summary.overall if summary and not missing_tags else None
        metrics = {
            "overall": MetricValue(overall, n_in, len(scores)),
            "image_accuracy": MetricValue(
                summary.frac_correct_images if summary else None, n_in, len(scores)
            ),
            "prompt_accuracy": MetricValue(
                summary.frac_correct_prompts if summary else None,
                summary.total_prompts if summary else 0,
                prompts_total,
            ),
        }
        return make_result(self.spec, self.mode, samples, scores, metrics, per_tag, notes)

    def metric_terms(self, samples: Sequence[Sample], scores: Sequence[SampleScore]):
        """The metrics of :meth:`aggregate` from per-prompt counts (images entering the summary
        and correct ones per tag, prompts with any and with a correct image), so the
        jackknife's replicates need no re-run (echo4o_eval.statistics.terms)."""
        from echo4o_eval.statistics.terms import TermsBuilder, tag_accuracies

        terms = TermsBuilder()
        tags: dict[str, None] = {}
        for score in scores:
            tags.setdefault(score.tag, None)
            terms.add(score.sample_id, ("seen", score.tag))
        for sample in samples:
            tags.setdefault(sample.tag, None)
            terms.add(sample.id, ("seen", sample.tag))
        prompts: dict[str, bool] = {}
        for score, sample, correct in self._records(samples, scores):
            terms.add(sample.id, ("in", sample.tag))
            terms.add(sample.id, "in")
            if correct:
                terms.add(sample.id, ("correct", sample.tag))
                terms.add(sample.id, "correct")
            prompts[sample.id] = prompts.get(sample.id, False) or correct
        for sample_id, correct in prompts.items():
            terms.add(sample_id, "prompts")
            terms.add(sample_id, "correct prompts", float(correct))

        def compute(t):
            out = tag_accuracies(t, tags)
            out["", "prompt_accuracy"] = t["correct prompts"] / t["prompts"] if t["prompts"] else None
            return out

        return terms.build(compute)

    def extra_outputs(
        self,
        samples: Sequence[Sample],
        generations: Sequence[Generation],
        scores: Sequence[SampleScore],
    ) -> dict[str, str]:
        """``results.jsonl`` in the official GenEval schema (filename, tag, prompt, correct,
        reason, metadata and details as JSON strings), one line per image entering the summary,
        so the official ``summary_scores.py`` reproduces our numbers from it."""
        paths = {(g.sample_id, g.image_index): g.image_path for g in generations}
        lines = []
        for score, sample, correct in self._records(samples, scores):
            ok = score.status is Status.OK
            row = {
                "filename": paths.get((score.sample_id, score.image_index)),
                "tag": sample.metadata.get("tag", sample.tag),
                "prompt": sample.metadata.get("prompt", sample.prompt),
                "correct": correct,
                "reason": score.reason if ok else f"[{score.status.value}] {score.reason}",
                "metadata": json.dumps(dict(sample.metadata)),
                "details": json.dumps(score.values.get("details", {}) if ok else {}),
            }
            lines.append(json.dumps(row) + "\n")
        return {"results.jsonl": "".join(lines)}
