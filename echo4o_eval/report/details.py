"""Readable per-image details for the report gallery: what the judge was asked and what it said.

The gallery shows, for every image, small tables built here from the stored records rather than
raw JSON: the score values, the judge's verdict per checklist clause (GenEval++ with a VLM),
per criterion scores with their reasons (Imagine-Bench FF/IP/AQ, OmniContext PF/SC), the yes/no
answer per question and crop (DPG-Bench), and a readable checklist. The tables are built from
the *shape* of ``SampleScore.values`` and ``Judgement.parsed`` (a list of clause checks, a dict
of scores, a scalar answer), so a new benchmark gets sensible tables without code here; a
benchmark only adds labels (clause wording, question text) when its sample metadata has them.

Every cell is a plain string, number, boolean or None; the page renders them with
``textContent``, never as HTML.

Example:
    >>> from echo4o_eval.records.types import Judgement, Sample, SampleScore, Status
    >>> s = Sample("1", 0, "a cat", "t", {"questions": [{"proposition_id": 1, "question": "Is there a cat?",
    ...                                                  "dependency": [0]}]})
    >>> j = [Judgement("q1@crop0", "vlm", Status.OK, replies=("Yes.",), parsed=("yes",))]
    >>> sections = judge_sections("dpg_bench", s, j)
    >>> sections[0]["head"], sections[0]["rows"]
    (['#', 'question', 'depends on', 'answer'], [[1, 'Is there a cat?', '', 'yes']])
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping, Sequence

from echo4o_eval.records.types import Judgement, Sample

MAX_CELL = 1500  # characters per table cell
MAX_ROWS = 200  # rows per table
_CROP_KEY = re.compile(r"^q(\d+)@crop(\d+)$")
_REASON_KEYS = ("reason", "reasoning", "observation", "explanation")


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_CELL else text[:MAX_CELL] + f"… [{len(text) - MAX_CELL} more]"


def _section(title: str, head: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    more = len(rows) - MAX_ROWS
    return {"title": title + (f" (first {MAX_ROWS} of {len(rows)})" if more > 0 else ""),
            "head": head, "rows": [[_cell(c) for c in row] for row in rows[:MAX_ROWS]]}


def _label(name: str) -> str:
    return name.replace("_", " ")


def values_section(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """Score values as a (name, value) table; long lists are summarised.

    >>> values_section({"score": 6.5, "crop_scores": [1.0, 0.5], "raw_reply": "x"})["rows"]
    [['score', 6.5], ['crop scores', '1, 0.5']]
    """
    rows = []
    for name, value in values.items():
        if name == "raw_reply":  # shown with the judge replies
            continue
        if isinstance(value, list):
            pairs = all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) for v in value)
            if pairs and 0 < len(value) <= 40:  # e.g. DPG's [category, counted score] per question
                rows.append([_label(name), "; ".join(f"{a}: {b:g}" if isinstance(b, (int, float))
                                                     else f"{a}: {b}" for a, b in value)])
                continue
            if all(v is None or isinstance(v, (bool, int, float, str)) for v in value) and len(value) <= 16:
                value = ", ".join("—" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
                                  for v in value)
            else:
                value = f"{len(value)} entries"
        rows.append([_label(name), value])
    return _section("score values", ["name", "value"], rows) if rows else None


def _reply_json(judgement: Judgement) -> Any:
    if not judgement.replies:
        return None
    text = judgement.replies[0].strip()
    match = re.match(r"^```[A-Za-z]*\s*([\s\S]*?)\s*```$", text)
    try:
        return json.loads(match.group(1) if match else text)
    except ValueError:
        return None


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _reasons_from_reply(judgement: Judgement) -> dict[str, str]:
    """{normalised criterion: reason} from a JSON reply like {"x": {"reason": .., "score": ..}}."""
    data = _reply_json(judgement)
    out = {}
    if isinstance(data, Mapping):
        for key, entry in data.items():
            if isinstance(entry, Mapping):
                reason = next((entry[k] for k in _REASON_KEYS if isinstance(entry.get(k), str)), None)
                if reason is not None:
                    out[_norm(key)] = reason
    return out


def _rendering(benchmark_id: str, name: str):
    """The benchmark's own rendering function ``name`` (see echo4o_eval.spec.Benchmark), or
    None (unknown benchmark, or it has none)."""
    from echo4o_eval.registry import RegistryError
    from echo4o_eval.spec import SpecError, load_benchmark

    try:
        return getattr(load_benchmark(benchmark_id), name, None)
    except (KeyError, RegistryError, SpecError):
        return None


def checklist_items(benchmark_id: str, sample: Sample) -> list[str]:
    """Wording of the numbered requirements a checklist judge answered, as the benchmark
    describes them (e.g. GenEval++ with our pack); [] when it does not."""
    describe = _rendering(benchmark_id, "checklist_items")
    if describe is not None:
        try:
            return list(describe(sample))
        except (ValueError, KeyError, TypeError):
            return []
    return []


def checklist_text(benchmark_id: str, sample: Sample) -> str:
    """The sample's requirements in words, as the benchmark describes them (e.g. the official
    GenEval++ checklist), else its metadata as ``key: value`` lines (DPG questions are left to
    their own table)."""
    describe = _rendering(benchmark_id, "checklist_text")
    if describe is not None:
        try:
            return str(describe(sample))
        except (ValueError, KeyError, TypeError):
            pass
    lines = []
    for key, value in sample.metadata.items():
        if key == "questions" and isinstance(value, list):
            lines.append(f"questions: {len(value)} (see the questions table)")
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        lines.append(f"{key}: {text}")
    return "\n".join(lines)


def _question_table(sample: Sample, answers: dict[int, dict[int, Any]], crops: list[int]) -> dict:
    by_id = {}
    for q in sample.metadata.get("questions", []) or []:
        if isinstance(q, Mapping) and "proposition_id" in q:
            by_id.setdefault(q["proposition_id"], q)
    head = ["#", "question", "depends on"] + (
        ["answer"] if crops == [0] else [f"crop {c + 1}" for c in crops])
    rows = []
    for pid in sorted(answers):
        q = by_id.get(pid, {})
        parents = [str(p) for p in q.get("dependency", []) if p != 0]
        rows.append([pid, q.get("question", ""), ", ".join(parents)]
                    + [answers[pid].get(c) for c in crops])
    return _section("questions and answers", head, rows)


def judge_sections(benchmark_id: str, sample: Sample, judgements: Sequence[Judgement]) -> list[dict]:
    """Tables of the judge's verdicts for one image, built from the parsed replies."""
    sections: list[dict] = []
    questions: dict[int, dict[int, Any]] = {}
    crops: set[int] = set()
    answers, scored, failed = [], [], []
    for j in judgements:
        if j.detections is not None:  # detector judges are drawn on the image
            continue
        if j.status.value != "ok" or not j.parsed:
            failed.append([j.key, j.status.value, j.error or ""])
            continue
        parsed = j.parsed[0]
        match = _CROP_KEY.match(j.key)
        if match and not isinstance(parsed, (Mapping, list)):
            questions.setdefault(int(match.group(1)), {})[int(match.group(2))] = parsed
            crops.add(int(match.group(2)))
        elif isinstance(parsed, list) and parsed and all(isinstance(p, Mapping) for p in parsed):
            items = checklist_items(benchmark_id, sample)
            keys = [k for k in dict.fromkeys(k for p in parsed for k in p)]
            head = (["#", "requirement"] if items else []) + [
                _label(k) for k in keys if not (items and k == "requirement")]
            rows = []
            for n, check in enumerate(parsed):
                index = check.get("requirement", n + 1)
                lead = [index, items[index - 1] if isinstance(index, int) and 0 < index <= len(items)
                        else ""] if items else []
                rows.append(lead + [check.get(k) for k in keys if not (items and k == "requirement")])
            sections.append(_section(f"judge checklist ({j.key})", head, rows))
        elif isinstance(parsed, Mapping):
            reasons = _reasons_from_reply(j)
            reason = next((parsed[k] for k in _REASON_KEYS if isinstance(parsed.get(k), str)), None)
            numbers = {k: v for k, v in parsed.items() if k not in _REASON_KEYS}
            if reason is not None or len(numbers) <= 1:
                name, value = next(iter(numbers.items()), (j.key, None))
                label = name if j.key == "main" else j.key
                scored.append([_label(label), value if len(numbers) <= 1 else _cell(numbers), reason or ""])
            else:
                for name, value in numbers.items():
                    scored.append([name if j.key == "main" else f"{j.key}: {name}", value,
                                   reasons.get(_norm(name), "")])
        else:
            answers.append([_label(j.key), parsed])
    if questions:
        sections.append(_question_table(sample, questions, sorted(crops)))
    if scored:
        sections.append(_section("judge scores", ["criterion", "score", "reason"], scored))
    if answers:
        sections.append(_section("judge answers", ["request", "answer"], answers))
    if failed:
        sections.append(_section("not judged", ["request", "status", "error"], failed))
    return sections
