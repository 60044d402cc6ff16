"""``synth report``: one self-contained HTML page (thumbnails embedded, no external files) in the
style of the evaluation report (its stylesheet is reused): counts and cost per stage, and a
gallery filterable by outcome (kept / rewritten / dropped / refused / failed / pending), subset
and text, with the reason, the original vs rewritten prompt and the references beside the
target. ``refused``: a model (prompt writer, image generator or check VLM) refused the sample;
the reason holds its text. Requests that got no reply (they may have been billed) are noted.

Example:
    >>> outcome({"status": "ok"}, {"status": "ok"}, {"status": "rewritten"}, {"status": "kept"})[0]
    'rewritten'
    >>> outcome({"status": "ok"}, {"status": "ok"}, {"status": "ok", "verdict": None}, None)
    ('pending', 'not filtered yet')
    >>> outcome({"status": "ok"}, {"status": "ok"},
    ...         {"status": "refused", "reason": "refused by the check model: no"}, None)
    ('refused', 'check: refused by the check model: no')
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from echo4o_eval.data_gen.config import SynthConfig
from echo4o_eval.data_gen.records import RecordStore
from echo4o_eval.data_gen.status import stage_summary, unanswered_note

OUTCOMES = ("kept", "rewritten", "dropped", "refused", "failed", "pending")
THUMB_PX = 224
REF_PX = 96

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src {{ style_hash|safe }}; script-src {{ script_hash|safe }}">
<title>{{ title }}</title>
<style>{{ css|safe }}</style></head>
<body><header><h1>{{ title }}</h1>
<p class="muted">Generated {{ generated }} by echo4o-eval synth. Work directory: {{ work_dir }}</p></header>
<section><h2>Counts and cost per stage</h2>
<table><thead><tr><th>stage</th><th>samples</th><th>by status</th><th>cost (USD)</th><th>from cache</th></tr></thead><tbody>
{% for s in stages %}<tr><td>{{ s.name }}</td><td class="num">{{ s.samples }}</td>
<td>{% for k, v in s.by_status.items() %}<span class="badge">{{ k }} {{ v }}</span> {% endfor %}</td>
<td class="num">{{ s.cost }}</td><td class="num">{{ s.cached }}</td></tr>{% endfor %}
</tbody></table>
<p>Final: {% for k, v in final.items() %}<span class="badge pass">{{ k }} {{ v }}</span> {% endfor %}
· total estimated cost ${{ "%.4f"|format(total_cost) }}
· detector vs VLM on instruction samples: agree {{ agreement.agree }}, disagree {{ agreement.disagree }}</p>
{% if filter_details %}<p class="small muted">Filter: {{ filter_details }}</p>{% endif %}
{% for note in notes %}<p class="warn-box">{{ note }}</p>{% endfor %}
</section>
<section><h2>Gallery</h2>
<div class="controls">
{% for o in outcomes %}<label><input type="checkbox" class="f-outcome" value="{{ o }}" checked> {{ o }} ({{ outcome_counts.get(o, 0) }})</label>{% endfor %}
<select id="f-subset"><option value="">all subsets</option>{% for s in subsets %}<option>{{ s }}</option>{% endfor %}</select>
<input id="f-text" type="search" placeholder="search prompts and reasons">
<span id="f-shown" class="muted"></span></div>
{% if truncated %}<p class="warn-box">Showing {{ items|length }} of {{ total_items }} samples (--max-items).</p>{% endif %}
<div class="cards">
{% for it in items %}<div class="card o-{{ it.outcome }}" data-outcome="{{ it.outcome }}" data-subset="{{ it.subset }}">
<div class="fig">{% if it.thumb %}<img alt="{{ it.id }}" src="{{ it.thumb }}">{% else %}<span class="noimg">no image</span>{% endif %}</div>
{% if it.refs %}<div class="refs"><span class="small muted">references:</span>{% for r in it.refs %}<img class="ref" alt="reference {{ loop.index }}" src="{{ r }}">{% endfor %}</div>{% endif %}
<div class="head"><span class="badge">{{ it.subset }}</span><span class="badge st-{{ 'ok' if it.outcome in ('kept', 'rewritten') else 'x' }}">{{ it.outcome }}</span><span class="small muted">{{ it.id }}</span></div>
{% if it.rewritten %}<p class="prompt">{{ it.prompt }}</p><p class="small">original: <del>{{ it.original }}</del></p>
{% else %}<p class="prompt">{{ it.prompt }}</p>{% endif %}
{% if it.reason %}<p class="small">{{ it.reason }}</p>{% endif %}
</div>{% endfor %}
</div></section>
<script>{{ script|safe }}</script></body></html>
"""


EXTRA_CSS = """
.card.o-kept { border-top: 4px solid #3a9a47; } .card.o-rewritten { border-top: 4px solid #2457a6; }
.card.o-dropped, .card.o-failed { border-top: 4px solid #c73a3a; } .card.o-pending { border-top: 4px solid #9aa3ad; }
.card.o-refused { border-top: 4px solid #b07a1e; }
.card del { color: #8a5a5a; }
"""

GALLERY_SCRIPT = """(function () {
  var cards = Array.prototype.slice.call(document.querySelectorAll('.card'));
  function apply() {
    var on = {}; document.querySelectorAll('.f-outcome').forEach(function (b) { on[b.value] = b.checked; });
    var subset = document.getElementById('f-subset').value;
    var text = document.getElementById('f-text').value.toLowerCase(); var shown = 0;
    cards.forEach(function (c) {
      var ok = on[c.dataset.outcome] && (!subset || c.dataset.subset === subset) &&
               (!text || c.textContent.toLowerCase().indexOf(text) >= 0);
      c.hidden = !ok; if (ok) { shown += 1; }
    });
    document.getElementById('f-shown').textContent = shown + ' shown';
  }
  document.querySelectorAll('.controls input, .controls select').forEach(function (e) {
    e.addEventListener('input', apply); e.addEventListener('change', apply); });
  apply();
})();
"""


def outcome(plan, gen, check, kept) -> tuple[str, str]:
    """(outcome, reason) of one sample from its latest records (None where a stage has none)."""
    if plan.get("status") == "refused":
        return "refused", f"plan: {plan.get('error')}"
    if plan.get("status") != "ok":
        return "failed", f"plan: {plan.get('error') or plan.get('status')}"
    if gen is None:
        return "pending", "not generated yet"
    if gen.get("status") != "ok":
        return ("refused" if gen.get("status") == "refused" else "failed"), \
            f"generate: {gen.get('status')}: {gen.get('error') or ''}"
    if check is None or check.get("status") == "check_error":
        return ("failed", f"check: {check.get('reason')}") if check else ("pending", "not checked yet")
    if check["status"] == "refused":
        return "refused", f"check: {check.get('reason')}"
    if check["status"] == "dropped":
        return "dropped", f"check: {check.get('verdict')}: {check.get('reason') or ''}"
    if kept is None:
        return "pending", "not filtered yet"
    if kept.get("status") != "kept":
        return "dropped", f"filter: {kept.get('reason')} {kept.get('detail') or ''}".strip()
    reason = f"check: {check.get('verdict')}: {check.get('reason') or ''}"
    return ("rewritten" if check["status"] == "rewritten" else "kept"), reason


def data_uri(path: str | None, size: int) -> str | None:
    """A small JPEG thumbnail as a ``data:`` URI, or None when the file cannot be read."""
    if not path:
        return None
    from PIL import UnidentifiedImageError

    from echo4o_eval.judges.vlm_messages import data_url, encode_image

    try:
        return data_url(*encode_image(path, max_side=size))
    except (OSError, UnidentifiedImageError):
        return None


def gallery(config: SynthConfig, max_items: int) -> tuple[list[dict], int, dict[str, int]]:
    """Cards of the first ``max_items`` samples, the total, and outcome counts of all samples."""
    store = RecordStore(config.work_dir)
    items, total, counts = [], 0, {}
    try:
        for row in store.joined("plan", ("generate", "check", "filter")):
            plan, gen, check, kept = row["plan"], row["generate"], row["check"], row["filter"]
            if plan["subset"] == "subject":
                continue
            result, reason = outcome(plan, gen, check, kept)
            counts[result] = counts.get(result, 0) + 1
            total += 1
            if len(items) >= max_items:
                continue
            image = gen.get("image_path") if gen else None
            references = (gen or {}).get("references") or []
            items.append({"id": plan["id"], "subset": plan["subset"], "outcome": result, "reason": reason,
                          "prompt": (check or {}).get("prompt") or plan["prompt"], "original": plan["prompt"],
                          "rewritten": bool(check and check.get("status") == "rewritten"),
                          "thumb": data_uri(image, THUMB_PX),
                          "refs": [u for u in (data_uri(p, REF_PX) for p in references) if u]})
    finally:
        store.close()
    return items, total, counts


def write_report(config: SynthConfig, out_file: str | Path | None = None, max_items: int = 600) -> Path:
    """Render the page to ``out_file`` (default WORK_DIR/report.html); returns its path."""
    import jinja2

    summary = stage_summary(config)
    items, total, counts = gallery(config, max_items)
    stages = []
    for name in ("plan", "generate", "check", "filter"):
        info = summary[name]
        cost = "" if "cost_usd" not in info else f"{info['cost_usd']:.4f}" + (
            f" + {info['cost_unknown']} unpriced" if info.get("cost_unknown") else "")
        stages.append({"name": name, "samples": info["samples"], "by_status": info["by_status"],
                       "cost": cost, "cached": info.get("cached", "")})
    details = summary["filter"].get("details", {})
    notes = [f"Contamination not checked against {name}: {info['error'][:300]}"
             for name, info in details.get("benchmarks", {}).items() if "error" in info]
    if unanswered_note(summary):
        notes.append(f"{unanswered_note(summary)}.")
    loader = jinja2.ChoiceLoader([jinja2.DictLoader({"synth.html.j2": TEMPLATE}),
                                  jinja2.PackageLoader("echo4o_eval.report", "templates")])
    environment = jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape(default=True))
    from echo4o_eval.report.html import script_hash

    css = environment.get_template("report.css").render() + EXTRA_CSS
    html = environment.get_template("synth.html.j2").render(
        css=css, style_hash=script_hash(css), script=GALLERY_SCRIPT, script_hash=script_hash(GALLERY_SCRIPT),
        title=f"Synthetic data: {Path(config.work_dir).name}", work_dir=str(config.work_path.resolve()),
        generated=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        stages=stages, final=summary["final"], total_cost=summary["total_cost_usd"],
        agreement=summary["check"]["detector_agreement"], notes=notes,
        filter_details=({"by_reason": details.get("by_reason"),
                         "contamination": details.get("contamination_by_benchmark")} if details else None),
        outcomes=OUTCOMES, outcome_counts=counts, subsets=sorted({i["subset"] for i in items}),
        items=items, total_items=total, truncated=total > len(items))
    target = Path(out_file) if out_file else config.work_path / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    return target
