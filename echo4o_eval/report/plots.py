"""Inline SVG plots for the report: no script, no network, every label escaped.

Each function returns one ``<svg>`` element as text (``viewBox`` sized, scaled to the page
width by CSS), or "" when there is nothing to draw:

* :func:`tag_bars` — per-tag values of several models with their intervals;
* :func:`radar` — models across benchmarks, each axis on its metric's full scale (the paper's
  radar figure); needs at least three benchmarks;
* :func:`histogram` — distribution of per-image scores (0..10 benchmarks);
* :func:`scatter` — per-prompt scores of two runs against each other (diff view);
* :func:`step_curve` — a metric against the training step, with intervals.

Example:
    >>> svg = histogram([1, 2, 2, 9.5], top=10, label="Imagine-Bench")
    >>> svg.startswith("<svg") and "4 images" in svg
    True
    >>> "&lt;b&gt;" in tag_bars(["<b>"], [("m", {"<b>": (0.5, 0.4, 0.6)})], top=1.0, title="t")
    True
"""

from __future__ import annotations

import math
from html import escape
from typing import Mapping, Sequence

PALETTE = ("#1f5fbf", "#d9731a", "#2e9a48", "#b8322f", "#7b4fb0", "#7a5a3a", "#c24f9e", "#5f6b78",
           "#9aa01f", "#1aa3b5")
Triple = tuple  # (value, ci_low or None, ci_high or None)


def colour(i: int) -> str:
    """The i-th series colour (cycled)."""
    return PALETTE[i % len(PALETTE)]


def _svg(width: float, height: float, body: list[str], title: str, cls: str) -> str:
    return (f'<svg class="plot {cls}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def _text(x, y, text, size=11, anchor="start", fill="#1d2330", extra="") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{extra}>'
            f"{escape(str(text))}</text>")


def _fmt(value: float, top: float) -> str:
    return f"{value * 100:.1f}" if top == 1.0 else f"{value:.2f}"


def legend(names: Sequence[str], y: float, width: float) -> tuple[list[str], float]:
    """Legend entries laid out in rows; returns the elements and the height used."""
    out, x, row = [], 8.0, 0
    for i, name in enumerate(names):
        w = 18 + 6.5 * min(len(name), 56)
        if x + w > width and x > 8:
            x, row = 8.0, row + 1
        yy = y + row * 16
        out.append(f'<rect x="{x:.1f}" y="{yy - 9:.1f}" width="10" height="10" fill="{colour(i)}"/>')
        out.append(_text(x + 14, yy, name[:56], 11))
        x += w
    return out, (row + 1) * 16


def tag_bars(tags: Sequence[str], series: Sequence[tuple[str, Mapping[str, Triple]]], top: float,
             title: str) -> str:
    """Horizontal bars per tag, one per model, with interval whiskers; ``top`` is the full scale."""
    if not tags or not series:
        return ""
    width, label_w, bar_h = 640.0, 150.0, 9.0
    group_h = bar_h * len(series) + 8
    body, y = [_text(8, 16, title, 12, extra=' font-weight="600"')], 24.0
    leg, leg_h = legend([name for name, _ in series], y + 10, width)
    body += leg
    y += leg_h + 6
    plot_w = width - label_w - 50
    for k in range(0, 11, 2):
        x = label_w + plot_w * k / 10
        body.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + group_h * len(tags):.1f}" stroke="#e3e8ee"/>')
        body.append(_text(x, y + group_h * len(tags) + 12, _fmt(top * k / 10, top), 10, "middle", "#6a7383"))
    for t, tag in enumerate(tags):
        gy = y + t * group_h
        body.append(_text(label_w - 6, gy + group_h / 2 + 3, tag[:24], 11, "end"))
        for i, (name, values) in enumerate(series):
            triple = values.get(tag)
            if not triple or triple[0] is None:
                continue
            value, low, high = triple
            by = gy + 4 + i * bar_h
            w = plot_w * max(0.0, min(1.0, value / top))
            body.append(f'<rect x="{label_w:.1f}" y="{by:.1f}" width="{w:.1f}" height="{bar_h - 2:.1f}" '
                        f'fill="{colour(i)}" fill-opacity="0.75"><title>{escape(name)} · {escape(tag)}: '
                        f'{_fmt(value, top)}</title></rect>')
            if low is not None and high is not None:
                x1 = label_w + plot_w * max(0.0, min(1.0, low / top))
                x2 = label_w + plot_w * max(0.0, min(1.0, high / top))
                cy = by + (bar_h - 2) / 2
                body.append(f'<line x1="{x1:.1f}" y1="{cy:.1f}" x2="{x2:.1f}" y2="{cy:.1f}" stroke="#1d2330" stroke-width="1.2"/>')
    height = y + group_h * len(tags) + 20
    return _svg(width, height, body, title, "bars")


def radar(axes: Sequence[str], series: Sequence[tuple[str, Sequence[float | None], bool]], title: str) -> str:
    """Models across benchmarks; values in 0..1 of each axis' full scale. Series:
    (name, values per axis, published); published series are dashed. Needs >= 3 axes."""
    if len(axes) < 3 or not series:
        return ""
    size, r = 520.0, 140.0
    cx, cy = size / 2, 190.0
    body = []
    angle = [(-math.pi / 2 + 2 * math.pi * k / len(axes)) for k in range(len(axes))]
    for ring in (0.25, 0.5, 0.75, 1.0):
        pts = " ".join(f"{cx + r * ring * math.cos(a):.1f},{cy + r * ring * math.sin(a):.1f}" for a in angle)
        body.append(f'<polygon points="{pts}" fill="none" stroke="#dde3ea"/>')
    for a, name in zip(angle, axes):
        body.append(f'<line x1="{cx}" y1="{cy}" x2="{cx + r * math.cos(a):.1f}" y2="{cy + r * math.sin(a):.1f}" stroke="#dde3ea"/>')
        anchor = "middle" if abs(math.cos(a)) < 0.3 else ("start" if math.cos(a) > 0 else "end")
        body.append(_text(cx + (r + 10) * math.cos(a), cy + (r + 14) * math.sin(a) + 4, name, 11, anchor))
    for i, (name, values, published) in enumerate(series):
        pts = [(cx + r * v * math.cos(a), cy + r * v * math.sin(a)) for v, a in zip(values, angle) if v is not None]
        if len(pts) < 2:
            continue
        dash = ' stroke-dasharray="5 3"' if published else ""
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        body.append(f'<polygon points="{path}" fill="{colour(i)}" fill-opacity="0.08" stroke="{colour(i)}" '
                    f'stroke-width="1.8"{dash}><title>{escape(name)}</title></polygon>')
    leg, leg_h = legend([n + (" (published)" if p else "") for n, _, p in series], cy + r + 40, size)
    return _svg(size, cy + r + 40 + leg_h, body + leg, title, "radar")


def histogram(values: Sequence[float], top: float = 10.0, label: str = "", bins: int = 10) -> str:
    """Counts of per-image scores in ``bins`` equal bins over [0, top]."""
    if not values:
        return ""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v / top * bins)))] += 1
    width, height, left, bottom = 320.0, 150.0, 30.0, 22.0
    peak = max(counts)
    bw = (width - left - 8) / bins
    body = []
    for k, c in enumerate(counts):
        h = (height - bottom - 16) * c / peak if peak else 0
        x = left + k * bw
        body.append(f'<rect x="{x + 1:.1f}" y="{height - bottom - h:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" '
                    f'fill="#1f5fbf" fill-opacity="0.7"><title>{k * top / bins:g}–{(k + 1) * top / bins:g}: {c}</title></rect>')
    for k in range(0, bins + 1, 2):
        body.append(_text(left + k * bw, height - 8, f"{k * top / bins:g}", 10, "middle", "#6a7383"))
    body.append(_text(left, 12, f"{label}: {len(values)} images", 11))
    return _svg(width, height, body, f"{label} score histogram", "hist")


def scatter(points: Sequence[tuple[float, float, str]], top: float, x_label: str, y_label: str) -> str:
    """Per-prompt (x, y, label) points on [0, top]^2 with the diagonal y = x."""
    if not points:
        return ""
    size, pad = 300.0, 36.0
    span = size - 2 * pad
    body = [f'<rect x="{pad}" y="{pad}" width="{span}" height="{span}" fill="none" stroke="#ccd3dc"/>',
            f'<line x1="{pad}" y1="{pad + span}" x2="{pad + span}" y2="{pad}" stroke="#9aa3ad" stroke-dasharray="4 3"/>']
    above = below = 0
    for x, y, label in points:
        px = pad + span * max(0.0, min(1.0, x / top))
        py = pad + span * (1 - max(0.0, min(1.0, y / top)))
        fill = "#2e9a48" if y > x else ("#b8322f" if y < x else "#5f6b78")
        above, below = above + (y > x), below + (y < x)
        body.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{fill}" fill-opacity="0.55">'
                    f"<title>{escape(label)}: {x:g} → {y:g}</title></circle>")
    body.append(_text(pad + span / 2, size - 6, x_label[:40], 11, "middle"))
    body.append(_text(12, pad + span / 2, y_label[:40], 11, "middle",
                      extra=f' transform="rotate(-90 12 {pad + span / 2:.1f})"'))
    body.append(_text(pad, pad - 8, f"{len(points)} prompts: {above} better, {below} worse", 11))
    return _svg(size, size, body, f"{x_label} vs {y_label} per prompt", "scatter")


def step_curve(series: Sequence[tuple[str, Sequence[tuple[int, float, float | None, float | None]]]],
               top: float | None, title: str) -> str:
    """Metric value against training step, one line per series of (step, value, low, high)."""
    points = [p for _, pts in series for p in pts]
    if len({p[0] for p in points}) < 2:
        return ""
    width, height, left, bottom, top_pad = 520.0, 220.0, 48.0, 28.0, 28.0
    steps = [p[0] for p in points]
    lows = [p[2] if p[2] is not None else p[1] for p in points]
    highs = [p[3] if p[3] is not None else p[1] for p in points]
    y0, y1 = min(lows), max(highs)
    if top is not None:
        y0, y1 = max(0.0, y0 - 0.05 * top), min(top, y1 + 0.05 * top)
    if y1 <= y0:
        y1 = y0 + 1e-9
    s0, s1 = min(steps), max(steps)
    fx = lambda s: left + (width - left - 12) * (s - s0) / (s1 - s0)  # noqa: E731
    fy = lambda v: top_pad + (height - top_pad - bottom) * (1 - (v - y0) / (y1 - y0))  # noqa: E731
    body = [_text(left, 14, title, 12)]
    for k in range(5):
        v = y0 + (y1 - y0) * k / 4
        body.append(f'<line x1="{left}" y1="{fy(v):.1f}" x2="{width - 12}" y2="{fy(v):.1f}" stroke="#eef1f5"/>')
        body.append(_text(left - 4, fy(v) + 3, _fmt(v, top) if top else f"{v:.3g}", 10, "end", "#6a7383"))
    for s in sorted(set(steps)):
        body.append(_text(fx(s), height - 10, str(s), 10, "middle", "#6a7383"))
    for i, (name, pts) in enumerate(series):
        pts = sorted(pts)
        path = " ".join(f"{fx(s):.1f},{fy(v):.1f}" for s, v, _, _ in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour(i)}" stroke-width="2"/>')
        for s, v, lo, hi in pts:
            if lo is not None and hi is not None:
                body.append(f'<line x1="{fx(s):.1f}" y1="{fy(lo):.1f}" x2="{fx(s):.1f}" y2="{fy(hi):.1f}" stroke="{colour(i)}"/>')
            body.append(f'<circle cx="{fx(s):.1f}" cy="{fy(v):.1f}" r="3.5" fill="{colour(i)}">'
                        f"<title>{escape(name)} step {s}: {_fmt(v, top) if top else f'{v:.4g}'}</title></circle>")
    if len(series) > 1:
        leg, leg_h = legend([n for n, _ in series], height + 12, width)
        body += leg
        height += leg_h + 4
    return _svg(width, height, body, title, "steps")
