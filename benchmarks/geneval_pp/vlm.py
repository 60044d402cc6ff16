"""GenEval++ judged by a VLM (the paper's protocol: GPT-4.1 decides whether the image meets
every item of a checklist built from the prompt's metadata).

Options: ``mode`` ("default" | "parity"), ``prompt_pack`` ("echo4o" default; "official" in
parity mode), ``prompts_dir`` (local copy of the official texts).

- echo4o pack: one verdict per checklist clause plus one for "single natural photo", via
  JSON-schema output; an image is correct when every clause holds, and the failed clauses are
  named in the score's reason.
- official pack: the official system prompt and checklist text; ``correct == 1`` counts.
  Outside parity mode a reply whose ``correct`` is not 0, 1, true or false (missing, "1",
  "yes", ...) is unparsable: the judge re-asks, then the image is a parse_error with the raw
  reply kept. Parity mode counts such replies as not correct, as the official script does.

Aggregation: per-tag accuracy, ``overall`` = unweighted mean of tag accuracies,
``image_accuracy`` over all images. Default mode averages judged images only and reports
coverage; parity mode counts every failure (missing image, judge or parse error) as wrong,
as the official script does, and says how many.

Example:
    >>> from echo4o_eval.records.types import Sample, Generation, Status
    >>> ev = GenEvalPlusPlusVLMEvaluator({})
    >>> s = Sample(id="1", index=0, prompt="a photo of 2 dogs", tag="counting",
    ...            metadata={"include": [{"class": "dog", "count": 2}], "prompt": "a photo of 2 dogs"})
    >>> [r.key for r in ev.requests(s, Generation("1", 0, 0, Status.OK, image_path="x.png"))]
    ['main']
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from echo4o_eval.benchmarks.geneval_pp import prompts as prompts
from echo4o_eval.prompts.official import OfficialPrompts
from echo4o_eval.scoring.aggregation import make_result, tags_in_order
from echo4o_eval.scoring.judged import (
    JudgedOptions, builtin_spec, evaluator_options, generation_failure, judgement_failure,
    options_dict,
)
from echo4o_eval.records.types import (
    BenchmarkResult, Generation, JudgeRequest, Judgement, MetricValue, Sample, SampleScore, Status,
)

OFFICIAL_PARAMS = {"max_tokens": 200, "temperature": 0.0}  # as the official script
ECHO4O_PARAMS = {"max_tokens": 1200}


class GenEvalPlusPlusVLMEvaluator:
    """GenEval++ scored by a VLM judge: one checklist request per image, a correct/wrong
    verdict per image, per-tag and overall accuracy (see the module docstring for the modes)."""
    judge_kind = "vlm"

    def __init__(self, options: Mapping[str, Any] | JudgedOptions | None = None, spec=None) -> None:
        self.config: JudgedOptions = evaluator_options(JudgedOptions, options)
        self.options = options_dict(self.config)
        self.spec = builtin_spec("geneval_pp", spec)
        self._official = OfficialPrompts(self.config.prompts_dir, prompts.OFFICIAL_TEXTS)

    def _official_parser(self):
        parity = self.config.parity
        return prompts.official_parse if parity else prompts.official_parse_strict

    def requests(self, sample: Sample, generation: Generation) -> list[JudgeRequest]:
        """The single ``main`` judge request for one image (none for a failed generation or a
        malformed metadata row): the official checklist prompt or our per-clause prompt."""
        if generation.status is not Status.OK or generation.image_path is None:
            return []
        try:
            prompts.official_checklist(sample.metadata)
        except prompts.ChecklistError:
            return []  # score() reports the malformed row
        image = (generation.image_path,)
        if self.config.prompt_pack == "official":
            texts = self._official
            return [JudgeRequest(key="main", images=image, system=texts["geneval_pp_system"],
                                 text=prompts.official_user_text(texts["geneval_pp_user_template"],
                                                                 sample.metadata),
                                 params=OFFICIAL_PARAMS, parse=self._official_parser())]
        text, items = prompts.echo4o_user_text(sample.metadata)
        return [JudgeRequest(key="main", images=image, system=prompts.ECHO4O_SYSTEM, text=text,
                             response_schema=prompts.ECHO4O_SCHEMA, params=ECHO4O_PARAMS,
                             parse=prompts.echo4o_parser(len(items)))]

    def score(self, sample: Sample, generation: Generation, judgements: Sequence[Judgement]) -> SampleScore:
        """Turn the image's judgement into ``correct`` (and per-clause verdicts with the echo4o
        pack); generation, metadata, judge and parse failures become the score's status."""
        failed = generation_failure(sample, generation)
        if failed:
            return failed
        try:
            prompts.official_checklist(sample.metadata)
        except prompts.ChecklistError as exc:
            return SampleScore(sample.id, generation.image_index, sample.tag, Status.SCORE_ERROR,
                               reason=f"GenEval++ row {sample.id}: {exc}")
        failed = judgement_failure(sample, generation, judgements, ["main"])
        if failed:
            return failed
        main = next(j for j in judgements if j.key == "main")
        parsed = main.parsed[0]
        if self.config.prompt_pack == "official":
            problem = prompts.official_verdict_problem(parsed)
            if problem and not self.config.parity:  # e.g. judged by a lenient parser
                reply = main.replies[-1] if main.replies else ""
                return SampleScore(sample.id, generation.image_index, sample.tag, Status.PARSE_ERROR,
                                   values={"raw_reply": reply[:2000]}, reason=f"main: {problem}")
            correct = prompts.official_counts_as_correct(parsed)
            reason = str(parsed.get("reason", "")) if isinstance(parsed, dict) else ""
            return SampleScore(sample.id, generation.image_index, sample.tag, Status.OK,
                               values={"correct": correct}, reason=reason)
        _, items = prompts.echo4o_user_text(sample.metadata)
        verdicts = [check["satisfied"] for check in parsed]
        failed_items = [f"{item} ({check['observation']})" for item, check in zip(items, parsed)
                        if not check["satisfied"]]
        return SampleScore(
            sample.id, generation.image_index, sample.tag, Status.OK,
            values={"correct": all(verdicts), "clauses": verdicts},
            reason="all requirements met" if not failed_items else "failed: " + "; ".join(failed_items),
        )

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[SampleScore]) -> BenchmarkResult:
        """Per-tag accuracy, ``overall`` (mean of tag accuracies) and ``image_accuracy``; failures
        are excluded with coverage reported (default) or counted as wrong (parity)."""
        parity = self.config.parity
        per_tag: dict[str, dict[str, MetricValue]] = {}
        tag_values = []
        for tag in tags_in_order(samples, scores):
            group = [s for s in scores if s.tag == tag]
            ok = [s for s in group if s.status is Status.OK]
            correct = sum(1 for s in ok if s.values.get("correct"))
            base = len(group) if parity else len(ok)
            value = correct / base if base else (0.0 if parity else None)
            per_tag[tag] = {"accuracy": MetricValue(value, base, len(group))}
            tag_values.append(value)
        ok_all = [s for s in scores if s.status is Status.OK]
        correct_all = sum(1 for s in ok_all if s.values.get("correct"))
        base_all = len(scores) if parity else len(ok_all)
        complete = tag_values and all(v is not None for v in tag_values)
        overall = sum(tag_values) / len(tag_values) if complete else (0.0 if parity else None)
        failures = len(scores) - len(ok_all)
        metrics = {
            "overall": MetricValue(overall, base_all, len(scores)),
            "image_accuracy": MetricValue(correct_all / base_all if base_all else (0.0 if parity else None),
                                          base_all, len(scores)),
        }
        if parity:
            notes = (f"parity: {failures} image(s) not judged (missing image, judge or parse error) "
                     "counted as wrong, as the official script does",)
        else:
            notes = (f"coverage {len(ok_all)}/{len(scores)}: {failures} image(s) not judged are "
                     "excluded from the means (see status counts)",) if failures else ()
        return make_result(self.spec, self.config.mode, samples, scores, metrics, per_tag, notes)

    def metric_terms(self, samples: Sequence[Sample], scores: Sequence[SampleScore]):
        """The metrics of :meth:`aggregate` from per-prompt counts (correct and counted images
        per tag), so the jackknife's replicates need no re-run (echo4o_eval.statistics.terms)."""
        from echo4o_eval.statistics.terms import TermsBuilder, tag_accuracies

        parity = self.config.parity
        terms = TermsBuilder()
        for sample in samples:
            terms.add(sample.id, ("seen", sample.tag))
        for s in scores:
            terms.add(s.sample_id, ("seen", s.tag))
            ok = s.status is Status.OK
            if ok and s.values.get("correct"):
                terms.add(s.sample_id, ("correct", s.tag))
                terms.add(s.sample_id, "correct")
            if ok or parity:
                terms.add(s.sample_id, ("base", s.tag))
                terms.add(s.sample_id, "base")
        tags = tags_in_order(samples, scores)
        empty = 0.0 if parity else None

        def compute(t):
            return tag_accuracies(t, tags, base="base", empty=empty)

        return terms.build(compute)
