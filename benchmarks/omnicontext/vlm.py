"""OmniContext judged by a VLM: prompt following (PF) and subject consistency (SC), 0-10 each,
one judge call per criterion with the reference images first and the result last; per image
``sqrt(PF * SC)``.

Aggregation per task type (mean PF, mean SC, mean of per-image overall), then
``overall`` = mean over all task types present (OmniGen2's 8-subset average) and ``overall_6``
= mean over the task types other than single_character / single_object (the 6-subset average
of Echo-4o's table); ``prompt_following``/``subject_consistency`` (+ ``_6``) likewise. Only
samples whose ``instruction_language`` equals option ``language`` (default "en") count, as in
the official statistics: ``n_images`` and coverage count only that language's images, and a
note says how many were left out. A sample with no ``instruction_language`` is never assumed
to be English: its image is a score_error naming the missing field, and it counts against the
coverage of the selected language (so the gap is visible, not silently dropped). A task type left without judged images has no value, and then the
averages have none either (the official script prints NaN).

Options: ``mode``, ``prompt_pack``, ``prompts_dir``, ``language``. Parity mode judges prompt
following with the non-scene prompt for every task (the official scorer never passes
``with_scene`` there); default mode uses the scene-aware prompt for scene tasks. A reply that
cannot be parsed after the re-asks is a parse_error - never the official random fallback.

Example:
    >>> sample_overall(9, 4)
    6.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from echo4o_eval.benchmarks.omnicontext import prompts as prompts
from echo4o_eval.prompts.official import OfficialPrompts
from echo4o_eval.scoring.aggregation import coverage_note, make_result, tag_means, tags_in_order
from echo4o_eval.scoring.judged import (
    JudgedOptions, builtin_spec, evaluator_options, generation_failure, judgement_failure,
    options_dict,
)
from echo4o_eval.records.types import (
    BenchmarkResult, Generation, JudgeRequest, Judgement, MetricValue, Sample, SampleScore, Status,
)

CRITERIA = ("prompt_following", "subject_consistency")
SINGLE_TASKS = ("single_character", "single_object")
OFFICIAL_PARAMS = {"max_tokens": 1400, "temperature": None}  # the official call sets no temperature
ECHO4O_PARAMS = {"max_tokens": 600}
OFFICIAL_CRASH = "official_statistics_crash"  # parity: the official run would stop here


def sample_overall(pf: float, sc: float) -> float:
    """Per-image overall score: geometric mean of prompt following and subject consistency."""
    return math.sqrt(pf * sc)


def _official_parse(text: str) -> dict[str, Any]:
    """Parity: the official parser, any numeric score accepted as the official code does."""
    parsed = prompts.official_parse(text)
    if parsed == "rate_limit_exceeded":
        raise ValueError("judge replied rate_limit_exceeded")
    return {"score": prompts.official_score(parsed), "reasoning": str(parsed.get("reasoning", ""))}


def _checked_official_parse(text: str) -> dict[str, Any]:
    """Default mode with the official prompts: as :func:`_official_parse`, but a score outside
    0..10 is refused (ValueError, so a parse_error once the re-asks are spent)."""
    parsed = _official_parse(text)
    return {**parsed, "score": prompts.checked_score(parsed)}


@dataclass(frozen=True)
class OmniContextOptions(JudgedOptions):
    """OmniContext options: ``language``, the ``instruction_language`` whose samples count."""

    language: str = "en"


class OmniContextEvaluator:
    """OmniContext scored by a VLM judge: prompt following and subject consistency per image,
    per-task means and the 8- and 6-task averages for the selected instruction language."""
    judge_kind = "vlm"

    def __init__(self, options: Mapping[str, Any] | OmniContextOptions | None = None, spec=None) -> None:
        self.config: OmniContextOptions = evaluator_options(OmniContextOptions, options)
        self.options = options_dict(self.config)
        self.spec = builtin_spec("omnicontext", spec)
        self._official = OfficialPrompts(self.config.prompts_dir, prompts.OFFICIAL_TEXTS)

    @property
    def parity(self) -> bool:
        """True in parity mode."""
        return self.config.parity

    def _prompt(self, criterion: str, instruction: str, scene: bool) -> str:
        if self.config.prompt_pack == "echo4o":
            return prompts.echo4o_prompt(criterion, instruction, scene)
        name = f"omnicontext_{criterion}" + ("_scene" if scene else "")
        return self._official[name].replace("<instruction>", instruction)

    def requests(self, sample: Sample, generation: Generation) -> list[JudgeRequest]:
        """Two judge requests per image (prompt following, subject consistency), reference
        images first and the generated image last; none for a failed generation."""
        if generation.status is not Status.OK or generation.image_path is None:
            return []
        instruction = str(sample.metadata.get("instruction", sample.prompt))
        scene = "scene" in sample.tag
        images = (*sample.reference_images, generation.image_path)
        official = self.config.prompt_pack == "official"
        out = []
        for criterion in CRITERIA:
            use_scene = scene and not (criterion == "prompt_following" and self.parity)
            out.append(JudgeRequest(
                key=criterion, images=images, text=self._prompt(criterion, instruction, use_scene),
                params=OFFICIAL_PARAMS if official else ECHO4O_PARAMS,
                response_schema=None if official else prompts.ECHO4O_SCHEMA,
                parse=(_official_parse if self.parity else _checked_official_parse) if official
                else prompts.echo4o_parse,
            ))
        return out

    def score(self, sample: Sample, generation: Generation, judgements: Sequence[Judgement]) -> SampleScore:
        """PF, SC and their geometric mean for one image; a failed generation or judgement, or a
        sample without ``instruction_language``, becomes the score's status."""
        failed = generation_failure(sample, generation)
        if failed:
            return failed
        if not sample.metadata.get("instruction_language"):
            return SampleScore(sample.id, generation.image_index, sample.tag, Status.SCORE_ERROR,
                               reason=f"OmniContext sample {sample.id} has no instruction_language, "
                                      "so it cannot be assigned to a language; not scored")
        failed = judgement_failure(sample, generation, judgements, CRITERIA)
        if failed:
            return failed
        by_key = {j.key: j.parsed[0] for j in judgements}
        pf, sc = by_key["prompt_following"]["score"], by_key["subject_consistency"]["score"]
        if self.parity and pf * sc < 0:
            return SampleScore(
                sample.id, generation.image_index, sample.tag, Status.SCORE_ERROR,
                values={"prompt_following": pf, "subject_consistency": sc, OFFICIAL_CRASH: True},
                reason=f"parity: PF {pf:g} x SC {sc:g} is negative; the official statistics "
                       "take math.sqrt of it and stop with 'math domain error' (no averages)")
        if not self.parity and not (0 <= pf <= 10 and 0 <= sc <= 10):
            return SampleScore(sample.id, generation.image_index, sample.tag, Status.PARSE_ERROR,
                               values={"prompt_following": pf, "subject_consistency": sc},
                               reason=f"score out of range 0..10: PF {pf!r}, SC {sc!r}")
        return SampleScore(
            sample.id, generation.image_index, sample.tag, Status.OK,
            values={"prompt_following": pf, "subject_consistency": sc, "score": sample_overall(pf, sc)},
            reason=f"PF: {by_key['prompt_following']['reasoning']} | SC: {by_key['subject_consistency']['reasoning']}",
        )

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[SampleScore]) -> BenchmarkResult:
        """Per-task means and the overall / ``_6`` averages over the selected language's images;
        n_images and coverage count only those images."""
        language = self.config.language
        unknown = {s.id for s in samples if not s.metadata.get("instruction_language")}
        wanted = {s.id for s in samples if s.metadata.get("instruction_language") == language}
        kept = [s for s in scores if s.sample_id in wanted or s.sample_id in unknown]
        # a task with no rows in the language stays, empty
        per_tag = tag_means(tags_in_order(samples, scores), kept,
                            ["prompt_following", "subject_consistency", "score"])

        def average(name: str, tags: list[str]) -> MetricValue:
            """Mean of ``name`` over the tags' means (None if any is missing), counts summed."""
            values = [per_tag[t][name].value for t in tags]
            n = sum(per_tag[t][name].n for t in tags)
            n_total = sum(per_tag[t][name].n_total for t in tags)
            ok = values and all(v is not None for v in values)
            return MetricValue(sum(values) / len(values) if ok else None, n, n_total)

        all_tags = list(per_tag)
        six = [t for t in all_tags if t not in SINGLE_TASKS]
        metrics = {"overall": average("score", all_tags), "overall_6": average("score", six)}
        for name in ("prompt_following", "subject_consistency"):
            metrics[name] = average(name, all_tags)
            metrics[name + "_6"] = average(name, six)
        n_ok = sum(1 for s in kept if s.status is Status.OK)
        notes = [f"language filter: instruction_language == {language!r} "
                 f"({len(scores) - len(kept)} image(s) of other languages left out of n_images "
                 "and coverage)"]
        n_unknown = sum(1 for s in kept if s.sample_id in unknown)
        if n_unknown:
            notes.append(f"{n_unknown} image(s) of samples without instruction_language are "
                         "score errors (counted against coverage, not assumed to be "
                         f"{language!r})")
        notes.append(coverage_note(n_ok, len(kept), "images not judged are excluded (never "
                                   "replaced by a random score as the official scorer does)"))
        if self.parity:
            notes.append("parity: prompt following judged with the non-scene prompt for all tasks")
            crashed = sum(1 for s in kept if s.values.get(OFFICIAL_CRASH))
            if crashed:
                metrics = {name: MetricValue(None, 0, m.n_total) for name, m in metrics.items()}
                per_tag = {t: {name: MetricValue(None, 0, m.n_total) for name, m in ms.items()}
                           for t, ms in per_tag.items()}
                notes.append(f"parity: {crashed} image(s) have PF x SC < 0, on which the official "
                             "statistics stop with 'math domain error': no averages")
        return make_result(self.spec, self.config.mode, samples, kept, metrics, per_tag, notes)

    def metric_terms(self, samples: Sequence[Sample], scores: Sequence[SampleScore]):
        """The metrics of :meth:`aggregate` from per-prompt sums and counts of the selected
        language's scores per task, so the jackknife's replicates need no re-run
        (echo4o_eval.statistics.terms)."""
        from echo4o_eval.statistics.terms import TermsBuilder, mean_of

        language = self.config.language
        kept_ids = {s.id for s in samples if not s.metadata.get("instruction_language")
                    or s.metadata.get("instruction_language") == language}
        names = ("prompt_following", "subject_consistency", "score")
        terms = TermsBuilder()
        for sample in samples:
            terms.add(sample.id, ("seen", sample.tag))
        for s in scores:
            terms.add(s.sample_id, ("seen", s.tag))
            if s.sample_id not in kept_ids:
                continue
            if s.values.get(OFFICIAL_CRASH):
                terms.add(s.sample_id, "crashed")
            if s.status is Status.OK:
                terms.add(s.sample_id, ("n", s.tag))
                for name in names:
                    terms.add(s.sample_id, (name, s.tag), float(s.values[name]))
        tags = tags_in_order(samples, scores)

        def compute(t):
            present = [tag for tag in tags if t["seen", tag]]
            crashed = self.parity and t["crashed"]
            per_tag = {(tag, name): None if crashed or not t["n", tag] else t[name, tag] / t["n", tag]
                       for tag in present for name in names}
            six = [tag for tag in present if tag not in SINGLE_TASKS]
            out = dict(per_tag)
            for name in names:
                label = "overall" if name == "score" else name
                out["", label] = mean_of([per_tag[tag, name] for tag in present])
                out["", label + "_6"] = mean_of([per_tag[tag, name] for tag in six])
            return out

        return terms.build(compute)
