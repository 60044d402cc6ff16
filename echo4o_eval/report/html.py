"""Self-contained HTML report of one or more runs: leaderboard, plots, per-run sections, diffs.

The page is one ``index.html`` (one inline style and one inline script, each allowed by its
sha256 in the Content-Security-Policy - no 'unsafe-inline' -, inline SVG plots, no network) plus ``thumbs/`` (and ``images/`` with
``full_images="copy"``); it works from ``file://``. Next to it: ``leaderboard.json`` (schema
``echo4o-eval/report``), ``.csv``, ``.md`` and ``.tex``. Tables and plots are rendered by
jinja2 with autoescaping; the gallery is rendered page by page in the browser from JSON
embedded in the page, every string set through ``textContent``.

Example:
    >>> import tempfile
    >>> path = build_report([], tempfile.mkdtemp(), published=False)
    >>> path.name, sorted(p.name for p in path.parent.iterdir())[:2]
    ('index.html', ['index.html', 'leaderboard.csv'])
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from echo4o_eval.report import plots
from echo4o_eval.report.gallery import (
    diff_rows, gallery_items, image_file, item_value, prompt_means, reference_files,
)
from echo4o_eval.report.leaderboard import Entry, _spec, build_leaderboard, format_value, full_scale
from echo4o_eval.report.runs import RunView, load_view
from echo4o_eval.report.thumbs import FULL_IMAGE_MODES, Thumbnails, full_image
from echo4o_eval.records.types import Status

MAX_FAILURES = 300
MAX_DIFF = 600
_image_file = image_file  # older name, kept for callers


def default_diff_pairs(views: Sequence[RunView]) -> list[tuple[int, int]]:
    """(base, other) positions: every run against the first run of the same benchmark."""
    pairs, first_of = [], {}
    for index, view in enumerate(views):
        base = first_of.setdefault((view.benchmark_key, view.variant), index)
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


def script_hash(source: str) -> str:
    """The CSP source expression allowing exactly this inline script (or style element).

    >>> script_hash("")
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
    """
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def _result_of(view: RunView):
    if view.result is not None:
        return view.result
    try:  # a run without result.json (interrupted): aggregate what was scored, no CIs
        return view.aggregate_function()(view.samples, view.scores)
    except Exception:  # noqa: BLE001 - an unknown benchmark still gets its gallery
        return None


def _linker(out_dir: Path, thumbs: Thumbnails, made: dict, full_mode: str, ref_thumbs: dict):
    def links(source: Path, reference: bool = False):
        """(thumbnail, full-size link) of an image for the gallery."""
        thumb = (ref_thumbs if reference else made).get(source)
        if thumb is None:
            return None, None
        return thumb, full_image(source, out_dir, full_mode, thumbs.hashes.get(source)) or thumb
    return links


def _plots(board, views, results, galleries, pairs) -> dict:
    """Every plot of the page as SVG text (see :mod:`echo4o_eval.report.plots`)."""
    primary = [(j, c) for j, c in enumerate(board.columns) if not c.tag]
    out: dict[str, Any] = {"radar": "", "bars": [], "hists": {}, "steps": [], "scatters": {}}
    axes = [c for _, c in primary if full_scale(c.unit)]
    if len(axes) >= 3:
        series = []
        for row in board.rows:
            values = [None if row.cells[j].value is None else row.cells[j].value / full_scale(c.unit)
                      for j, c in primary if full_scale(c.unit)]
            if sum(v is not None for v in values) >= 2:
                series.append((row.name, values, row.entry.published))
        out["radar"] = plots.radar([c.label for c in axes], series, "models across benchmarks")
    for j, column in primary:
        tag_cols = [(k, c) for k, c in enumerate(board.columns) if c.tag and c.key == column.key]
        top = full_scale(tag_cols[0][1].unit) if tag_cols else None
        series = [(row.name, {c.tag: (row.cells[k].value, row.cells[k].ci_low, row.cells[k].ci_high)
                              for k, c in tag_cols}) for row in board.rows
                  if any(row.cells[k].value is not None for k, _ in tag_cols)]
        if tag_cols and top and series:
            out["bars"].append({"label": column.label, "svg": plots.tag_bars(
                [c.tag for _, c in tag_cols], series, top, f"{column.label}: per-tag values with 95% intervals")})
    for index, (view, result, items) in enumerate(zip(views, results, galleries)):
        scores = [it["main"] for it in items if it["status"] == Status.OK.value and it["verdict"] is None
                  and it["main"] is not None]
        if scores and max(scores) <= 10 and min(scores) >= 0:
            out["hists"][index] = plots.histogram(scores, 10.0, view.benchmark_id)
    out["steps"] = _step_curves(views, results)
    for k, (base, other) in enumerate(pairs):
        a, b = prompt_means(galleries[base]), prompt_means(galleries[other])
        points = [(a[sid], b[sid], sid) for sid in a if sid in b]
        values = [item_value(it) for it in galleries[base] if item_value(it) is not None]
        top = 1.0 if all(v in (0.0, 1.0) for v in values) else 10.0
        out["scatters"][k] = plots.scatter(points, top, views[base].name, views[other].name)
    return out


def _step_curves(views, results) -> list[dict]:
    """Score-vs-step curves for runs that differ only by the training step."""
    groups: dict[tuple, list] = defaultdict(list)
    for view, result in zip(views, results):
        if view.step is not None and result is not None:
            groups[(view.benchmark_key, view.variant, view.model, view.judge)].append((view, result))
    curves = []
    for (bench, variant, model, judge), members in groups.items():
        if len({v.step for v, _ in members}) < 2:
            continue
        spec = _spec(members[0][1].benchmark)
        metric = spec.primary_metric if spec else next(iter(members[0][1].metrics))
        unit = spec.metric(metric).unit if spec else "score"
        points = [(v.step, r.metrics[metric].value, r.metrics[metric].ci_low, r.metrics[metric].ci_high)
                  for v, r in members if metric in r.metrics and r.metrics[metric].value is not None]
        title = f"{spec.display_name if spec else bench}{' (' + variant + ')' if variant else ''} {metric} by step: {model}"
        curves.append({"title": title, "svg": plots.step_curve([(model, points)], full_scale(unit), title)})
    return curves


def build_report(
    runs: Sequence[str | Path | RunView],
    out_dir: str | Path,
    published: str | Path | None | bool = None,
    thumb_px: int = 256,
    page_size: int = 48,
    title: str = "echo4o-eval report",
    diff: Sequence[str] | None = None,
    full_images: str = "link",
) -> Path:
    """Write ``out_dir/index.html`` (+ ``thumbs/``) for ``runs``; returns the HTML path.

    ``published``: a file of published figures, None to look in the default places
    (:func:`echo4o_eval.report.published.default_published_path`), False for none.
    ``diff``: "A:B" pairs of runs to diff (names or 1-based positions, see
    :func:`resolve_diff_pairs`); None diffs every run against the first run of its benchmark.
    ``full_images``: link, copy or none (:mod:`echo4o_eval.report.thumbs`).
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    from echo4o_eval.report.published import default_published_path, load_published

    if full_images not in FULL_IMAGE_MODES:
        raise ValueError(f"full_images must be one of {FULL_IMAGE_MODES}, got {full_images!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    views = [r if isinstance(r, RunView) else load_view(r) for r in runs]
    results = [_result_of(v) for v in views]
    entries = [Entry(v.name, v.model, v.judge, v.created[:10], r, variant=v.variant, step=v.step)
               for v, r in zip(views, results)]
    source = default_published_path() if published is None else (published or None)
    references = load_published(source) if source else []
    measured = {r.benchmark for r in results if r is not None}
    entries += [e for e in references if e.result.benchmark in measured]
    board = build_leaderboard(entries)
    thumbs = Thumbnails(out_dir, thumb_px)
    sources = [p for v in views for s in v.scores if (p := image_file(v, s.sample_id, s.image_index))]
    made = thumbs.build(sources)
    ref_maker = Thumbnails(out_dir, max(64, thumb_px // 2))
    ref_thumbs = ref_maker.build([p for v in views for s in v.samples for p in reference_files(v, s) if p.is_file()])
    thumbs.hashes.update(ref_maker.hashes)
    links = _linker(out_dir, thumbs, made, full_images, ref_thumbs)
    sections, galleries = [], []
    for index, (view, result) in enumerate(zip(views, results)):
        items = gallery_items(view, links)
        galleries.append(items)
        per_tag = [{"tag": tag, "metric": name, "mv": mv} for tag, metrics in (result.per_tag.items() if result else [])
                   for name, mv in metrics.items()]
        failures = [it for it in items if it["status"] != Status.OK.value]
        sections.append({
            "index": index, "view": view, "result": result, "per_tag": per_tag,
            "overall": [] if result is None else list(result.metrics.items()),
            "failures": failures[:MAX_FAILURES], "n_failures": len(failures),
            "tags": sorted({it["tag"] for it in items}),
            "statuses": sorted({it["status"] for it in items}),
            "reqs": sorted({r for it in items for r in it["req"]}),
            "scored": any(it["main"] is not None and it["verdict"] is None for it in items),
        })
    pairs = default_diff_pairs(views) if diff is None else resolve_diff_pairs(diff, views)
    diffs = []
    for k, (base, index) in enumerate(pairs):
        rows = diff_rows(galleries[base], galleries[index])
        counts = defaultdict(int)
        for row in rows:
            counts[row["change"] if row["change"] in ("fixed", "broken") else "changed"] += 1
        diffs.append({"k": k, "base": views[base], "other": views[index], "rows": rows[:MAX_DIFF],
                      "n_rows": len(rows), "counts": dict(counts)})
    env = Environment(loader=PackageLoader("echo4o_eval.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["fmt"] = format_value
    script = env.loader.get_source(env, "report.js")[0]
    style = env.loader.get_source(env, "report.css")[0]
    outside = full_images == "link" and any((it["full"] or "").startswith("..") for g in galleries for it in g)
    generated = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    html = env.get_template("report.html.j2").render(
        title=title, board=board, sections=sections, diffs=diffs, generated=generated,
        gallery_json=[_script_json(g) for g in galleries], page_size=page_size,
        references=references, published_source=str(source) if source else "", script=script,
        script_hash=script_hash(script), style=style, style_hash=script_hash(style), plots=_plots(board, views, results, galleries, pairs),
        full_images=full_images, images_outside=outside,
    )
    path = out_dir / "index.html"
    path.write_text(html, encoding="utf-8")
    from echo4o_eval.report.exports import write_exports
    from echo4o_eval.records.types import to_json

    summaries = [{"name": v.name, "model": v.model, "judge": v.judge, "created": v.created, "step": v.step,
                  "benchmark": v.benchmark_key, "variant": v.variant, "result": None if r is None else to_json(r)}
                 for v, r in zip(views, results)]
    write_exports(board, out_dir, summaries, generated)
    return path
