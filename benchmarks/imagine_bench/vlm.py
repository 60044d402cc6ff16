"""Imagine-Bench judged by a VLM: fantasy fulfilment (FF), identity preservation (IP) and
aesthetic quality (AQ), 0-10 each; per image ``0.8 * min(FF, IP) + 0.2 * AQ`` (rounded to 3).

Raw types merge into four groups (COLOR/SHAPE/SIZE -> Attribute shift, MATERIAL/COMBINATION ->
Hybridization, TIME/ENVIRONMENT -> Spatiotemporal, Multi-Object); unknown raw types pass
through unchanged. ``overall`` weights the groups 3/2/2/2 *including* Multi-Object;
``overall_official`` reproduces the official script, whose weight table names "TWO_OBJECT" and
so drops Multi-Object from the overall (that is the number in the paper).

Options: ``mode`` ("default" | "parity"), ``prompt_pack`` ("echo4o" | "official"),
``prompts_dir``. Parity mode reproduces the official treatment of failures: a judge failure
scores 0 and enters the means, an image file that exists but cannot be decoded scores 0 and
enters the means (the official script's image loading fails inside its retried evaluation), a
criterion missing from the reply counts as -1 (negative scores), an empty overall is 0. Default
mode excludes failures (``bad_image`` keeps its status) and reports coverage. Missing images
are skipped in both modes (as official) and counted in the coverage.

Example:
    >>> merged_type("SHAPE"), merged_type("TWO_OBJECT")
    ('Attribute shift', 'TWO_OBJECT')
    >>> weighted_overall({"Attribute shift": 6.0, "Multi-Object": 3.0}, OFFICIAL_WEIGHTS)
    6.0
    >>> weighted_overall({"Attribute shift": 6.0, "Multi-Object": 3.0}, WEIGHTS)
    4.8
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from echo4o_eval.benchmarks.imagine_bench import prompts as prompts
from echo4o_eval.prompts.official import OfficialPrompts
from echo4o_eval.scoring.aggregation import coverage_note, make_result, tag_means
from echo4o_eval.scoring.judged import (
    JudgedOptions, builtin_spec, evaluator_options, generation_failure, judgement_failure,
    options_dict,
)
from echo4o_eval.records.types import (
    BenchmarkResult, Generation, JudgeRequest, Judgement, MetricValue, Sample, SampleScore, Status,
)

TYPE_MAP = {
    "COLOR": "Attribute shift", "SHAPE": "Attribute shift", "SIZE": "Attribute shift",
    "MATERIAL": "Hybridization", "COMBINATION": "Hybridization",
    "TIME": "Spatiotemporal", "ENVIRONMENT": "Spatiotemporal", "Multi-Object": "Multi-Object",
}
OFFICIAL_WEIGHTS = {"Attribute shift": 3, "Hybridization": 2, "Spatiotemporal": 2, "TWO_OBJECT": 2}
WEIGHTS = {**OFFICIAL_WEIGHTS, "Multi-Object": 2}
OFFICIAL_PARAMS = {"max_tokens": 1024, "temperature": 0.0}
#: statuses parity scores 0, as the official script does (API error, unparsable reply, undecodable image)
JUDGE_FAILED = frozenset({Status.JUDGE_ERROR, Status.PARSE_ERROR, Status.BAD_IMAGE})
ECHO4O_PARAMS = {"max_tokens": 600}


def merged_type(raw: str) -> str:
    """The reporting group of a raw Imagine-Bench type (official merge of related types)."""
    return TYPE_MAP.get(raw, raw)


def weighted_overall(type_means: Mapping[str, float], weights: Mapping[str, float]) -> float | None:
    """Weighted mean over the weighted types present; None when none is present."""
    present = [(type_means[t], w) for t, w in weights.items() if type_means.get(t) is not None]
    total = sum(w for _, w in present)
    return sum(v * w for v, w in present) / total if total else None


def _strict_official_parse(text: str) -> dict[str, float]:
    scores = prompts.official_parse(text)
    missing = [k for k, v in scores.items() if v == -1]
    if missing:
        raise ValueError(f"no score for {', '.join(missing)}")
    return scores


class ImagineBenchEvaluator:
    """Imagine-Bench scored by a VLM judge: fantasy fulfillment, identity preservation and
    aesthetic quality per image, their weighted score, per-type means and weighted overalls."""
    judge_kind = "vlm"

    def __init__(self, options: Mapping[str, Any] | JudgedOptions | None = None, spec=None) -> None:
        self.config: JudgedOptions = evaluator_options(JudgedOptions, options)
        self.options = options_dict(self.config)
        self.spec = builtin_spec("imagine_bench", spec)
        self._official = OfficialPrompts(self.config.prompts_dir, prompts.OFFICIAL_TEXTS)

    def requests(self, sample: Sample, generation: Generation) -> list[JudgeRequest]:
        """The single ``main`` judge request for one image (none for a failed generation), with
        the official prompt or our JSON-schema prompt."""
        if generation.status is not Status.OK or generation.image_path is None:
            return []
        instruction, note = str(sample.metadata["instruction"]), str(sample.metadata["note"])
        image = (generation.image_path,)
        if self.config.prompt_pack == "official":
            texts = self._official
            text = texts["imagine_user_template"].replace("{instruction}", instruction).replace("{note}", note)
            parse = prompts.official_parse if self.config.parity else _strict_official_parse
            return [JudgeRequest(key="main", images=image, system=texts["imagine_system"],
                                 system_as_parts=True, text=text, params=OFFICIAL_PARAMS, parse=parse)]
        return [JudgeRequest(key="main", images=image, system=prompts.ECHO4O_SYSTEM,
                             text=prompts.echo4o_user_text(instruction, note),
                             response_schema=prompts.ECHO4O_SCHEMA, params=ECHO4O_PARAMS,
                             parse=prompts.echo4o_parse)]

    def score(self, sample: Sample, generation: Generation, judgements: Sequence[Judgement]) -> SampleScore:
        """The three criterion scores and their weighted score for one image; failures become
        the score's status."""
        failed = generation_failure(sample, generation) or judgement_failure(
            sample, generation, judgements, ["main"])
        if failed:
            return failed
        scores = next(j for j in judgements if j.key == "main").parsed[0]
        ff, ip, aq = (scores[k] for k in prompts.CRITERIA)
        return SampleScore(
            sample.id, generation.image_index, sample.tag, Status.OK,
            values={"score": prompts.weighted_score(ff, ip, aq), "fantasy_fulfillment": ff,
                    "identity_preservation": ip, "aesthetic_quality": aq},
        )

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[SampleScore]) -> BenchmarkResult:
        """Per-type mean scores and the weighted overalls (official weights and ours with
        Multi-Object); parity counts judge/parse failures as 0 as the official script does."""
        parity = self.config.parity
        groups = list(dict.fromkeys(merged_type(s.tag) for s in scores))
        per_tag = tag_means(groups, scores, ["score"], failed_value=0.0 if parity else None,
                            counts_as_failed=lambda s: s.status in JUDGE_FAILED,
                            tag_of=lambda s: merged_type(s.tag))
        means = {g: m["score"].value for g, m in per_tag.items()}

        def overall(weights):
            """Weighted overall over ``weights``' types, with counts; parity reports 0.0 where the
            value is undefined."""
            value = weighted_overall(means, weights)
            n = sum(per_tag[t]["score"].n for t in weights if t in per_tag)
            n_total = sum(per_tag[t]["score"].n_total for t in weights if t in per_tag)
            return MetricValue(0.0 if value is None and parity else value, n, n_total)

        used = sum(m["score"].n for m in per_tag.values())
        notes = ["overall_official drops Multi-Object (the official weights name 'TWO_OBJECT'); "
                 "overall includes it with weight 2"]
        if parity:
            n_zero = sum(1 for s in scores if s.status in JUDGE_FAILED)
            n_ok = sum(1 for s in scores if s.status is Status.OK)
            notes.append(f"parity: {n_zero} judge failure(s) or undecodable image(s) scored 0 as "
                         "the official script does; "
                         f"{len(scores) - n_ok - n_zero} image(s) missing were skipped")
        else:
            notes.append(coverage_note(used, len(scores), "images not judged are excluded"))
        metrics = {"overall": overall(WEIGHTS), "overall_official": overall(OFFICIAL_WEIGHTS)}
        return make_result(self.spec, self.config.mode, samples, scores, metrics, per_tag, notes)

    def metric_terms(self, samples: Sequence[Sample], scores: Sequence[SampleScore]):
        """The metrics of :meth:`aggregate` from per-prompt sums and counts of scores per type
        group, so the jackknife's replicates need no re-run (echo4o_eval.statistics.terms)."""
        from echo4o_eval.statistics.terms import TermsBuilder

        parity = self.config.parity
        terms = TermsBuilder()
        groups: dict[str, None] = {}
        for s in scores:
            group = merged_type(s.tag)
            groups.setdefault(group, None)
            if s.status is Status.OK:
                terms.add(s.sample_id, ("sum", group), float(s.values["score"]))
                terms.add(s.sample_id, ("n", group))
            elif parity and s.status in JUDGE_FAILED:
                terms.add(s.sample_id, ("n", group))  # scored 0: counts, adds nothing

        def compute(t):
            means = {g: t["sum", g] / t["n", g] if t["n", g] else None for g in groups}
            out = {(g, "score"): v for g, v in means.items()}  # a group without images is absent
            for name, weights in (("overall", WEIGHTS), ("overall_official", OFFICIAL_WEIGHTS)):
                value = weighted_overall(means, weights)
                out["", name] = 0.0 if value is None and parity else value
            return out

        return terms.build(compute)
