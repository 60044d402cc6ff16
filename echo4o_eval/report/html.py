"""Self-contained HTML report of one or more runs: leaderboard, per-run sections, diff view.

The page is one ``index.html`` (inline CSS and JS, no network) plus ``thumbs/`` JPEG thumbnails
it links to; it works from ``file://``. Next to it: ``leaderboard.json`` (schema
``echo4o-eval/report`` v1), ``.csv``, ``.md`` and ``.tex``. Leaderboard and tables are rendered by jinja2 with
autoescaping; the gallery (which can hold thousands of images) is rendered page by page in the
browser from JSON embedded in the page, with every string set through ``textContent``, so
prompts, judge replies and file names always show as text.

Example:
    >>> import tempfile
    >>> path = build_report([], tempfile.mkdtemp())
    >>> path.name, sorted(p.name for p in path.parent.iterdir())[:2]
    ('index.html', ['index.html', 'leaderboard.csv'])
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from echo4o_eval.store import RunStore
from echo4o_eval.report.leaderboard import Entry, build_leaderboard, format_value, load_published
from echo4o_eval.report.runs import RunView, load_view
from echo4o_eval.types import Status

MAX_TEXT = 4000  # characters of a judge reply / metadata kept per item
MAX_FAILURES = 300
MAX_DIFF = 600
MAX_JUDGE_REPLIES = 12  # raw judge replies kept per image (the tables hold every parsed answer)


def verdict(values) -> bool | None:
    """The pass/fail of one image: its boolean ``correct`` value (None when it has none).

    >>> verdict({"correct": True}), verdict({"score": 7.5})
    (True, None)
    """
    value = values.get("correct") if values else None
    return value if isinstance(value, bool) else None


def primary_number(values) -> float | None:
    """The ``score`` value, else the first numeric, non-boolean value (for graded benchmarks).

    >>> primary_number({"prompt_following": 8, "subject_consistency": 2, "score": 4.0})
    4.0
    """
    values = values or {}
    score = values.get("score")
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        return float(score)
    for value in values.values():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _clip(text: Any) -> str:
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"… [{len(text) - MAX_TEXT} more]"


def _image_file(view: RunView, sample_id: str, index: int) -> Path | None:
    generation = view.generations.get((sample_id, index))
    if generation is None or not generation.image_path:
        return None
    path = Path(generation.image_path)
    candidates = [path]
    if view.run_dir is not None:
        if not path.is_absolute():
            candidates.append(view.run_dir / path)
        # a run directory that was moved or copied keeps its generated images at fixed paths
        candidates.append(RunStore(view.run_dir).image_path(sample_id, index))
    return next((c for c in candidates if c.is_file()), None)


def _thumbnail(source: Path, target: Path, size: int) -> bool:
    from PIL import Image, UnidentifiedImageError

    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return True
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with Image.open(source) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size))
            image.save(target, "JPEG", quality=82)
    except (OSError, UnidentifiedImageError):
        return False
    return True


def _reference_images(view: RunView, sample, run_index: int, out_dir: Path, thumb_px: int,
                      done: dict) -> list[dict]:
    """Thumbnails of a sample's input images (multi-reference tasks), made once per sample."""
    from echo4o_eval.store import safe_name

    if sample is None or not sample.reference_images:
        return []
    if sample.id in done:
        return done[sample.id]
    refs = []
    for k, raw in enumerate(sample.reference_images):
        source = Path(raw)
        if not source.is_absolute() and view.run_dir is not None:
            source = view.run_dir / source
        target = out_dir / "thumbs" / f"run{run_index}" / "refs" / f"{safe_name(sample.id)}_{k}.jpg"
        if source.is_file() and _thumbnail(source, target, max(64, thumb_px // 2)):
            refs.append({"thumb": target.relative_to(out_dir).as_posix(),
                         "full": Path(os.path.relpath(source, out_dir)).as_posix(), "name": source.name})
        else:
            refs.append({"thumb": None, "full": None, "name": f"{source.name} (not found)"})
    done[sample.id] = refs
    return refs


def gallery_items(view: RunView, run_index: int, out_dir: Path, thumb_px: int) -> list[dict]:
    """One JSON-ready item per scored image, with thumbnail paths relative to ``out_dir``."""
    from echo4o_eval.report.details import checklist_text, judge_sections, values_section
    from echo4o_eval.store import safe_name

    samples = {s.id: s for s in view.samples}
    benchmark = view.benchmark_id
    reference_thumbs: dict = {}
    items = []
    for score in view.scores:
        sample = samples.get(score.sample_id)
        key = (score.sample_id, score.image_index)
        source = _image_file(view, *key)
        thumb = full = None
        if source is not None:
            target = out_dir / "thumbs" / f"run{run_index}" / f"{safe_name(score.sample_id)}_{score.image_index}.jpg"
            if _thumbnail(source, target, thumb_px):
                thumb = target.relative_to(out_dir).as_posix()
            full = Path(os.path.relpath(source, out_dir)).as_posix()
        judges, detections, size = [], [], None
        judgements = view.judgements.get(key, [])
        sections = []
        values = values_section(score.values)
        if values:
            sections.append(values)
        if sample is not None:
            sections += judge_sections(benchmark, sample, judgements)
        for n, j in enumerate(judgements):
            if n < MAX_JUDGE_REPLIES:
                judges.append({"key": j.key, "status": j.status.value,
                               "replies": [_clip(r) for r in j.replies[-2:]],
                               "parsed": _clip(list(j.parsed)) if j.parsed else "",
                               "error": _clip(j.error or "")})
            if j.detections:
                size = list(j.image_size) if j.image_size else size
                detections += [{"c": d.class_name, "b": list(d.box), "s": round(d.score, 3),
                                "col": d.color or ""} for d in j.detections]
        generation = view.generations.get(key)
        items.append({
            "sid": score.sample_id, "i": score.image_index, "tag": score.tag,
            "prompt": sample.prompt if sample else "", "status": score.status.value,
            "verdict": verdict(score.values), "main": primary_number(score.values),
            "reason": _clip(score.reason),
            "checklist": _clip(checklist_text(benchmark, sample)) if sample else "",
            "sections": sections, "n_judgements": len(judgements),
            "refs": _reference_images(view, sample, run_index, out_dir, thumb_px, reference_thumbs),
            "thumb": thumb, "full": full, "judges": judges, "dets": detections, "size": size,
            "gen_error": _clip(generation.error or "") if generation else "",
        })
    return items


def diff_rows(base: list[dict], other: list[dict]) -> list[dict]:
    """Images whose verdict flipped (or whose main score moved by >= 1) from base to other,
    sorted by tag then sample id."""
    by_key = {(it["sid"], it["i"]): it for it in base}
    rows = []
    for item in other:
        old = by_key.get((item["sid"], item["i"]))
        if old is None or old["status"] != Status.OK.value or item["status"] != Status.OK.value:
            continue
        if old["verdict"] is not None and item["verdict"] is not None:
            if old["verdict"] != item["verdict"]:
                rows.append({"old": old, "new": item,
                             "change": "fixed" if item["verdict"] else "broken"})
            continue
        a, b = old["main"], item["main"]
        if a is not None and b is not None and abs(b - a) >= 1:
            rows.append({"old": old, "new": item, "change": f"{a:g} → {b:g}"})
    return sorted(rows, key=lambda r: (r["new"]["tag"], r["new"]["sid"], r["new"]["i"]))


def default_diff_pairs(views: Sequence[RunView]) -> list[tuple[int, int]]:
    """(base, other) positions: every run against the first run of the same benchmark."""
    pairs, first_of = [], {}
    for index, view in enumerate(views):
        base = first_of.setdefault(view.benchmark_key, index)
        if base != index:
            pairs.append((base, index))
    return pairs


def _run_position(token: str, views: Sequence[RunView]) -> int:
    named = [i for i, v in enumerate(views) if v.name == token]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise ValueError(f"--diff: {len(named)} runs are named {token!r}; use their positions "
                         f"(1..{len(views)}) instead")
    if token.isdigit() and 1 <= int(token) <= len(views):
        return int(token) - 1
    names = ", ".join(f"{i + 1}={v.name}" for i, v in enumerate(views))
    raise ValueError(f"--diff: no run {token!r}; runs are {names}")


def resolve_diff_pairs(specs: Sequence[str], views: Sequence[RunView]) -> list[tuple[int, int]]:
    """Parse "A:B" specs into (base, other) positions. A and B are run names (the run folder
    or baseline name) or 1-based positions in the order the runs were given; a name wins
    over a position. Both runs must be of the same benchmark and version.

    >>> views = [RunView(n, {"benchmark": "geneval@1.0"}, [], []) for n in ("a", "b", "c")]
    >>> resolve_diff_pairs(["c:a", "2:3"], views)
    [(2, 0), (1, 2)]
    >>> resolve_diff_pairs(["a:x"], views)
    Traceback (most recent call last):
    ...
    ValueError: --diff: no run 'x'; runs are 1=a, 2=b, 3=c
    """
    pairs = []
    for spec in specs:
        left, sep, right = spec.partition(":")
        if not sep or not left or not right:
            raise ValueError(f"--diff: expected BASE:OTHER (names or positions), got {spec!r}")
        base, other = _run_position(left, views), _run_position(right, views)
        if base == other:
            raise ValueError(f"--diff {spec}: both sides are run {views[base].name!r}")
        if views[base].benchmark_key != views[other].benchmark_key:
            raise ValueError(f"--diff {spec}: {views[base].name} is {views[base].benchmark_key}, "
                             f"{views[other].name} is {views[other].benchmark_key}; only runs of "
                             "the same benchmark can be diffed")
        pairs.append((base, other))
    return pairs


def _script_json(data: Any) -> str:
    """JSON safe inside a <script type="application/json"> element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _result_of(view: RunView):
    if view.result is not None:
        return view.result
    try:  # a run without result.json (interrupted): aggregate what was scored, no CIs
        return view.aggregate_function()(view.samples, view.scores)
    except Exception:  # noqa: BLE001 - an unknown benchmark still gets its gallery
        return None


def build_report(
    runs: Sequence[str | Path | RunView],
    out_dir: str | Path,
    published: str | Path | None = None,
    thumb_px: int = 256,
    page_size: int = 48,
    title: str = "echo4o-eval report",
    diff: Sequence[str] | None = None,
) -> Path:
    """Write ``out_dir/index.html`` (+ ``thumbs/``) for ``runs``; returns the HTML path.

    ``diff``: "A:B" pairs of runs to diff (names or 1-based positions, see
    :func:`resolve_diff_pairs`); None diffs every run against the first run of its benchmark.
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    views = [r if isinstance(r, RunView) else load_view(r) for r in runs]
    results = [_result_of(v) for v in views]
    entries = [Entry(v.name, v.model, v.judge, v.created[:10], r) for v, r in zip(views, results)]
    references = load_published(published) if published else []
    measured = {r.benchmark for r in results if r is not None}
    entries += [e for e in references if e.result.benchmark in measured]
    board = build_leaderboard(entries)
    sections, galleries = [], []
    for index, (view, result) in enumerate(zip(views, results)):
        items = gallery_items(view, index, out_dir, thumb_px)
        galleries.append(items)
        per_tag = []
        if result is not None:
            for tag, metrics in result.per_tag.items():
                for name, mv in metrics.items():
                    per_tag.append({"tag": tag, "metric": name, "mv": mv})
        failures = [it for it in items if it["status"] != Status.OK.value]
        sections.append({
            "index": index, "view": view, "result": result, "per_tag": per_tag,
            "overall": [] if result is None else list(result.metrics.items()),
            "failures": failures[:MAX_FAILURES], "n_failures": len(failures),
            "tags": sorted({it["tag"] for it in items}),
            "statuses": sorted({it["status"] for it in items}),
        })
    pairs = default_diff_pairs(views) if diff is None else resolve_diff_pairs(diff, views)
    diffs = []
    for base, index in pairs:
        rows = diff_rows(galleries[base], galleries[index])
        counts = defaultdict(int)
        for row in rows:
            counts[row["change"] if row["change"] in ("fixed", "broken") else "changed"] += 1
        diffs.append({"base": views[base], "other": views[index], "rows": rows[:MAX_DIFF],
                      "n_rows": len(rows), "counts": dict(counts)})
    env = Environment(loader=PackageLoader("echo4o_eval.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["fmt"] = format_value
    generated = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    html = env.get_template("report.html.j2").render(
        title=title, board=board, sections=sections, diffs=diffs, generated=generated,
        gallery_json=[_script_json(g) for g in galleries], page_size=page_size,
        references=references,
    )
    path = out_dir / "index.html"
    path.write_text(html, encoding="utf-8")
    from echo4o_eval.report.exports import write_exports
    from echo4o_eval.types import to_json

    summaries = [{"name": v.name, "model": v.model, "judge": v.judge, "created": v.created,
                  "benchmark": v.benchmark_key, "result": None if r is None else to_json(r)}
                 for v, r in zip(views, results)]
    write_exports(board, out_dir, summaries, generated)
    return path
