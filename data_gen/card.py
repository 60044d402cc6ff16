"""The dataset card (README.md) written beside each export: counts per subset and status, cost,
model ids, filters applied, contamination removed, licence notes.

Example:
    >>> print(markdown_table({"fantasy": {"kept": 3, "dropped": 1}}, ["kept", "dropped"]))
    | subset | kept | dropped |
    |---|---|---|
    | fantasy | 3 | 1 |
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from echo4o_eval.data_gen.config import SynthConfig
from echo4o_eval.data_gen.status import stage_summary, unanswered_note


def markdown_table(rows: dict[str, dict[str, int]], columns: list[str]) -> str:
    """A Markdown table of ``{row: {column: n}}``."""
    lines = ["| subset | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, values in rows.items():
        lines.append(f"| {name} | " + " | ".join(str(values.get(c, 0)) for c in columns) + " |")
    return "\n".join(lines)


def _models(config: SynthConfig) -> list[str]:
    lines = [f"- generator: `{config.generate.model}`"]
    settings = config.work_path / "generate_settings.json"
    if settings.exists():
        identity = json.loads(settings.read_text(encoding="utf-8")).get("identity")
        if identity:
            lines.append(f"  - identity: `{json.dumps(identity, sort_keys=True)[:300]}`")
    lines.append(f"- prompt writer (chat): `{config.chat.model or 'none (templates)'}`")
    lines.append(f"- check VLM: `{config.check.vlm.model or 'none (not checked)'}`")
    lines.append(f"- detector check: `{config.check.detector or 'none'}`")
    return lines


def card_text(config: SynthConfig, export_name: str, export_summary: dict[str, Any],
              summary: dict[str, Any] | None = None) -> str:
    """The card's Markdown for one export (``summary``: :func:`stage_summary`, computed if None)."""
    summary = summary or stage_summary(config)
    final = summary["final"]
    total = sum(final.values())
    stage_lines = []
    for stage in ("plan", "generate", "check", "filter"):
        info = summary[stage]
        columns = sorted(info["by_status"])
        stage_lines += [f"### {stage}", "", markdown_table(info["by_subset"], columns), ""]
        if "cost_usd" in info:
            unknown = f" (+{info['cost_unknown']} calls of unknown price)" if info.get("cost_unknown") else ""
            stage_lines += [f"Cost: ${info['cost_usd']:.4f}{unknown}; replayed from cache: {info['cached']}", ""]
    details = summary["filter"].get("details", {})
    contamination = details.get("contamination_by_benchmark", {})
    checked = details.get("benchmarks", {})
    checked_lines = [f"- {name}: " + (f"{info['prompts']} prompts" if "error" not in info
                                      else f"NOT checked ({info['error'][:200]})")
                     for name, info in checked.items()]
    agreement = summary["check"].get("detector_agreement", {})
    return "\n".join([
        "---", "license: other", "task_categories:", "- text-to-image", "- image-to-image",
        f"size_categories: {'n<1K' if total < 1000 else '1K<n<10K' if total < 10000 else 'n>10K'}", "---", "",
        f"# Synthetic Echo-4o-style data ({export_name} export)", "",
        f"{total} samples: " + ", ".join(f"{k} {v}" for k, v in final.items()), "",
        "Made by the echo4o-eval `synth` pipeline: plan -> generate -> check and rewrite -> filter -> export.",
        "A `rewritten` sample's prompt was rewritten by the check VLM to describe what its image shows; "
        "the original prompt is kept beside it.", "",
        "## Models", "", *_models(config), "",
        "## Counts and cost per stage", "", *stage_lines,
        f"Total estimated cost: ${summary['total_cost_usd']:.4f}", "",
        *([f"Note: {unanswered_note(summary)}.", ""] if unanswered_note(summary) else []),
        f"Detector check vs VLM check (instruction samples): agree {agreement.get('agree', 0)}, "
        f"disagree {agreement.get('disagree', 0)}", "",
        "## Filters applied", "",
        f"- settings: `{json.dumps(details.get('settings', {}), sort_keys=True)}`",
        f"- dropped by reason: `{json.dumps(details.get('by_reason', {}), sort_keys=True)}`", "",
        "## Benchmark contamination removed", "",
        f"Removed: `{json.dumps(contamination, sort_keys=True)}` "
        f"(against {details.get('benchmark_prompts', 0)} benchmark prompts)", "",
        "Benchmarks checked:", "", *(checked_lines or ["- none"]), "",
        "## This export", "", f"```json\n{json.dumps(export_summary.get(export_name, {}), indent=2)}\n```", "",
        "## Licence notes", "", config.export.licence,
        "Benchmark prompts were only used to remove overlapping samples; none are included.", "",
    ])


def write_card(config: SynthConfig, folder: Path, export_name: str, export_summary: dict[str, Any],
               summary: dict[str, Any] | None = None) -> Path:
    """Write ``folder/README.md``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "README.md"
    path.write_text(card_text(config, export_name, export_summary, summary), encoding="utf-8")
    return path
