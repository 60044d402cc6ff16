"""DPG-Bench judged by VQA through a VLM judge: yes/no questions per image linked by a
dependency graph, on 1 to 4 crops of a 2x2 grid (top-left, top-right, bottom-left,
bottom-right), per-image mean, L1/L2 category breakdowns and the overall DPG score (a fraction;
the official script prints it x100).

Options: ``mode``, ``prompt_pack``, ``prompts_dir``, ``crops`` (1-4, default 1), ``resolution``
(crop side in pixels as the official ``--resolution``; default: the whole image for one crop,
half the image per axis for more).

Parity mode reproduces the official quirks: the first CSV data row is skipped, an item whose
rows are not contiguous keeps only its last block, a child is zeroed from its parents' scores
in dictionary order (so forward references see un-zeroed parents), a missing parent fails the
image, only the exact answer "yes" counts ("Yes", "yes " and "yes." count as no), and
categories come from the last crop's answers before zeroing. Default mode fixes them: every
question counts, answers are normalised to their first word ("Yes." is yes; a reply that is
neither yes nor no is a parse_error), zeroing is transitive and order-free, categories use
every crop after zeroing.

Example:
    >>> grid_boxes(2, (100, 80), None)
    [(0, 0, 50, 40), (50, 0, 100, 40)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from echo4o_eval.benchmarks.dpg_bench import prompts
from echo4o_eval.scoring.aggregation import coverage_note, make_result, mean_metric
from echo4o_eval.scoring.judged import (
    JudgedOptions, builtin_spec, evaluator_options, generation_failure, judgement_failure,
    options_dict,
)
from echo4o_eval.records.types import (
    BenchmarkResult, Generation, JudgeRequest, Judgement, Sample, SampleScore, Status,
)


@dataclass(frozen=True)
class DPGOptions(JudgedOptions):
    """DPG-Bench options: ``crops`` (1-4 crops of a 2x2 grid, official ``--pic_num``) and
    ``resolution`` (crop side in pixels, official ``--resolution``; None = half the image)."""

    crops: int = 1
    resolution: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        grid_boxes(self.crops, (2, 2), self.resolution)  # validates crops


def grid_boxes(crops: int, size: tuple[int, int], resolution: int | None) -> list:
    """Crop boxes in the official order; one crop without resolution = whole image (None)."""
    if not 1 <= crops <= 4:
        raise ValueError(f"crops must be 1..4, not {crops}")
    if crops == 1 and resolution is None:
        return [None]
    w, h = (resolution, resolution) if resolution else (size[0] // 2, size[1] // 2)
    return [(0, 0, w, h), (w, 0, 2 * w, h), (0, h, w, 2 * h), (w, h, 2 * w, 2 * h)][:crops]


def parity_questions(questions: Sequence[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    """Questions as the official ``prepare_dpg_data`` keeps them for one item."""
    kept = [q for q in questions if q.get("csv_row") != 0]
    runs: list[list] = []
    for q in kept:
        if runs and q["csv_row"] == runs[-1][-1]["csv_row"] + 1:
            runs[-1].append(q)
        else:
            runs.append([q])
    out: dict[int, Mapping[str, Any]] = {}
    for q in runs[-1] if runs else []:
        out[q["proposition_id"]] = q  # a repeated id keeps its first position, last content
    return out


def default_questions(questions: Sequence[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    """Every question of an item by proposition id (default mode keeps all rows)."""
    return {q["proposition_id"]: q for q in questions}


def category(question: Mapping[str, Any]) -> str:
    """The L2 category of a question: its tuple text before the first ``(``."""
    return str(question["tuple"]).split("(")[0].strip()


class DPGBenchEvaluator:
    """DPG-Bench scored by VQA through a VLM judge: one yes/no request per (question, crop),
    dependency zeroing, per-image mean score, L1/L2 categories and the overall DPG score."""
    judge_kind = "vlm"

    def __init__(self, options: Mapping[str, Any] | DPGOptions | None = None, spec=None) -> None:
        self.config: DPGOptions = evaluator_options(DPGOptions, options)
        self.options = options_dict(self.config)
        self.spec = builtin_spec("dpg_bench", spec)

    @property
    def parity(self) -> bool:
        """True in parity mode (official quirks reproduced)."""
        return self.config.parity

    def questions(self, sample: Sample) -> dict[int, Mapping[str, Any]]:
        """The item's questions by proposition id, as the current mode keeps them."""
        raw = sample.metadata.get("questions", [])
        return parity_questions(raw) if self.parity else default_questions(raw)

    def boxes(self, image_path: str) -> list:
        """Crop boxes for one image (reads its size only when crops are half the image)."""
        size = (0, 0)
        if self.config.crops > 1 and self.config.resolution is None:
            from PIL import Image

            with Image.open(image_path) as img:
                size = img.size
        return grid_boxes(self.config.crops, size, self.config.resolution)

    def official_failure(self, sample: Sample) -> str | None:
        """Parity: why the official script could not score this image (pandas dtype quirks)."""
        quirks = sample.metadata.get("official_dtype_quirks") or {}
        if not self.parity:
            return None
        if quirks.get("dependency_integer"):
            return ("parity: the official script crashes on this CSV (no dependency lists two "
                    "parents, pandas reads integers, and `.split(',')` raises AttributeError)")
        if quirks.get("item_id_integer"):
            return ("parity: the official script finds no questions for this image (every item id "
                    "is a number, so pandas reads integers that never equal the file name)")
        return None

    def requests(self, sample: Sample, generation: Generation) -> list[JudgeRequest]:
        """One judge request per (question, crop), keyed ``q<id>@crop<c>``; none for a failed
        generation or an item the official script cannot score (parity)."""
        if generation.status is not Status.OK or generation.image_path is None:
            return []
        if self.official_failure(sample):
            return []
        official = self.config.prompt_pack == "official"
        parse = prompts.official_parse if self.parity else (
            prompts.strict_parse if official else prompts.echo4o_parse)
        out = []
        for c, box in enumerate(self.boxes(generation.image_path)):
            for pid, q in self.questions(sample).items():
                out.append(JudgeRequest(
                    key=f"q{pid}@crop{c}", images=(generation.image_path,), crop=box,
                    text=q["question"], system=None if official else prompts.ECHO4O_SYSTEM,
                    response_schema=None if official else prompts.ECHO4O_SCHEMA,
                    params={"max_tokens": 20}, parse=parse))
        return out

    def score(self, sample: Sample, generation: Generation, judgements: Sequence[Judgement]) -> SampleScore:
        """Per-crop scores after dependency zeroing, their mean and the category values for one
        image; every (question, crop) of the ``crops`` option must have an ok judgement, else
        the image carries the judge/parse failure."""
        failed = generation_failure(sample, generation)
        if failed:
            return failed
        official = self.official_failure(sample)
        if official:
            return SampleScore(sample.id, generation.image_index, sample.tag, Status.SCORE_ERROR,
                               reason=official)
        questions = self.questions(sample)
        if not questions:
            return SampleScore(sample.id, generation.image_index, sample.tag, Status.SCORE_ERROR,
                               reason=f"no questions for DPG item {sample.id}")
        crops = list(range(self.config.crops))  # what requests() asked, never what came back
        keys = [f"q{pid}@crop{c}" for c in crops for pid in questions]
        failed = judgement_failure(sample, generation, judgements, keys)
        if failed:
            return failed
        answers = {j.key: j.parsed[0] for j in judgements}
        crop_scores, categories = [], []
        for c in crops:
            orig = {pid: float(answers[f"q{pid}@crop{c}"] == "yes") for pid in questions}
            try:
                final = self._zero(questions, orig)
            except KeyError as exc:
                return SampleScore(sample.id, generation.image_index, sample.tag, Status.SCORE_ERROR,
                                   reason=f"question depends on missing proposition {exc.args[0]}")
            crop_scores.append(sum(final.values()) / len(final))
            if not self.parity:
                categories += [[category(questions[p]), v] for p, v in final.items()]
            elif c == crops[-1]:
                categories = [[category(questions[p]), v] for p, v in orig.items()]
        return SampleScore(sample.id, generation.image_index, sample.tag, Status.OK,
                           values={"score": sum(crop_scores) / len(crop_scores),
                                   "crop_scores": crop_scores, "categories": categories})

    def _zero(self, questions, orig: dict[int, float]) -> dict[int, float]:
        parents = {pid: [p for p in q["dependency"] if p != 0] for pid, q in questions.items()}
        if self.parity:  # official: in order, reading already-zeroed parents
            scores = dict(orig)
            for pid, ps in parents.items():
                if any(scores[p] == 0 for p in ps):
                    scores[pid] = 0.0
            return scores
        valid: dict[int, bool] = {}

        def ok(pid: int, trail: tuple = ()) -> bool:
            """True when every parent of question ``pid``, recursively, scored 1.0;
            KeyError on a dependency cycle."""
            if pid not in valid:
                if pid in trail:
                    raise KeyError(f"{pid} (dependency cycle)")
                valid[pid] = all(orig[p] == 1.0 and ok(p, trail + (pid,)) for p in parents[pid])
            return valid[pid]

        return {pid: (v if ok(pid) else 0.0) for pid, v in orig.items()}

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[SampleScore]) -> BenchmarkResult:
        """Overall DPG score (mean over scored images) and L1/L2 category means, with coverage."""
        ok = [s for s in scores if s.status is Status.OK]
        l1: dict[str, list[float]] = {}
        l2: dict[str, list[float]] = {}
        for s in ok:
            for name, value in s.values["categories"]:
                l2.setdefault(name, []).append(value)
                l1.setdefault(name.split("-")[0].strip(), []).append(value)
        per_tag = {f"L1/{k}": {"score": mean_metric(v, len(v))} for k, v in l1.items()}
        per_tag.update({f"L2/{k}": {"score": mean_metric(v, len(v))} for k, v in sorted(l2.items())})
        notes = [f"crops per image: {self.config.crops}",
                 coverage_note(len(ok), len(scores), "images that could not be scored are excluded "
                               "(the official script skips failed images the same way)")]
        if self.parity:
            notes.append("parity: first CSV data row skipped, order-dependent zeroing, categories "
                         "from the last crop before zeroing, only the exact answer 'yes' counts "
                         "(official quirks)")
        else:
            notes.append("answers normalised to their first word ('Yes.' counts as yes)")
        metrics = {"overall": mean_metric((s.values["score"] for s in ok), len(scores))}
        return make_result(self.spec, self.config.mode, samples, scores, metrics, per_tag, notes)

    def metric_terms(self, samples: Sequence[Sample], scores: Sequence[SampleScore]):
        """The metrics of :meth:`aggregate` from per-prompt sums and counts (overall score, L1
        and L2 category values), so the jackknife's replicates need no re-run
        (echo4o_eval.statistics.terms)."""
        from echo4o_eval.statistics.terms import TermsBuilder

        terms = TermsBuilder()
        keys: dict[str, tuple[str, str]] = {}  # category -> (its L1 key, its L2 key)
        for s in scores:
            if s.status is not Status.OK:
                continue
            terms.add(s.sample_id, "sum", float(s.values["score"]))
            terms.add(s.sample_id, "n")
            for name, value in s.values["categories"]:
                pair = keys.get(name)
                if pair is None:
                    pair = keys[name] = (f"L1/{name.split('-')[0].strip()}", f"L2/{name}")
                for key in pair:
                    terms.add(s.sample_id, ("sum", key), float(value))
                    terms.add(s.sample_id, ("n", key))
        tag_keys = list(dict.fromkeys(k[0] for k in keys.values())) + [keys[n][1] for n in sorted(keys)]

        def compute(t):
            out = {(key, "score"): t["sum", key] / t["n", key] for key in tag_keys if t["n", key]}
            out["", "overall"] = t["sum"] / t["n"] if t["n"] else None
            return out

        return terms.build(compute)
