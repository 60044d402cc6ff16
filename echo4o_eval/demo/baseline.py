"""The demo as a regression gate: write its runs as baselines, check new runs against them.

``echo4o-eval demo --write-baseline reports/baselines/demo`` stores each demo run as a baseline
JSON (the format of ``echo4o-eval report --baseline``). ``echo4o-eval demo --check-baseline
reports/baselines/demo`` (what ``.ci/run`` does) then runs the demo again and, for each run,
(1) runs ``echo4o-eval compare`` on it and its baseline with no drop tolerated and (2) requires
every image's status, values and reason and every metric to be identical: the demo is seeded
end to end, so any difference is a change in generation, judging or scoring, and the message
lists the first ones.

Example:
    >>> from echo4o_eval.records.types import SampleScore, Status
    >>> old = [SampleScore("1", 0, "counting", Status.OK, {"correct": True}, "ok")]
    >>> new = [SampleScore("1", 0, "counting", Status.OK, {"correct": False}, "ok")]
    >>> score_differences(old, new)
    ["image 1/0: values['correct'] True -> False"]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

MAX_LISTED = 10  # differences listed per run
DIGITS = 4  # floats in per-image values are compared at this many decimals


def baseline_path(baseline_dir: Path, run_dir: Path) -> Path:
    """Where the baseline of ``run_dir`` lives: ``<baseline_dir>/<run folder name>.json``."""
    return Path(baseline_dir) / f"{Path(run_dir).name}.json"


def write_baselines(run_dirs: Sequence[Path], baseline_dir: Path) -> list[Path]:
    """Write each run as a baseline JSON into ``baseline_dir``; returns the files."""
    from echo4o_eval.report.runs import load_view

    baseline_dir = Path(baseline_dir)
    baseline_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for run_dir in run_dirs:
        target = baseline_path(baseline_dir, run_dir)
        target.write_text(json.dumps(load_view(run_dir).to_baseline(), ensure_ascii=False, indent=1) + "\n",
                          encoding="utf-8")
        written.append(target)
    return written


def score_differences(old, new) -> list[str]:
    """Readable differences between two lists of SampleScores, matched by (sample, image)."""
    before = {(s.sample_id, s.image_index): s for s in old}
    after = {(s.sample_id, s.image_index): s for s in new}
    lines = []
    for key in sorted(before.keys() | after.keys(), key=lambda k: (str(k[0]), k[1])):
        label = f"image {key[0]}/{key[1]}"
        if key not in after or key not in before:
            lines.append(f"{label}: {'missing from the new run' if key not in after else 'not in the baseline'}")
            continue
        a, b = before[key], after[key]
        if a.status != b.status:
            lines.append(f"{label}: status {a.status.value} -> {b.status.value}")
        va, vb = rounded(dict(a.values)), rounded(dict(b.values))
        for name in sorted(va.keys() | vb.keys()):
            if va.get(name) != vb.get(name):
                lines.append(f"{label}: values[{name!r}] {_short(va.get(name))} -> {_short(vb.get(name))}")
        if a.reason != b.reason:
            lines.append(f"{label}: reason {_short(a.reason)} -> {_short(b.reason)}")
    return lines


def rounded(value, digits: int = DIGITS):
    """``value`` with every float rounded to ``digits`` decimals (nested lists and dicts too), so
    another CPU's last-bit rounding of a detector score is not a change.

    >>> rounded({"box": [0.123456789, 2], "ok": True})
    {'box': [0.1235, 2], 'ok': True}
    """
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def _short(value, width: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def metric_differences(old, new) -> list[str]:
    """Readable differences between two BenchmarkResults' metric values (overall and per tag)."""
    lines = []
    if old is None or new is None:
        return [] if old is new else ["result: present in only one of the two"]
    rows = [("", old.metrics, new.metrics)] + [
        (f"{tag} ", old.per_tag.get(tag, {}), new.per_tag.get(tag, {}))
        for tag in sorted(old.per_tag.keys() | new.per_tag.keys())]
    for prefix, a, b in rows:
        for name in sorted(a.keys() | b.keys()):
            va = a[name].value if name in a else None
            vb = b[name].value if name in b else None
            if rounded(va) != rounded(vb):
                lines.append(f"metric {prefix}{name}: {va} -> {vb}")
    if old.coverage != new.coverage:
        lines.append(f"coverage: {old.coverage:.4f} -> {new.coverage:.4f}")
    return lines


@dataclass
class BaselineCheck:
    """Outcome of :func:`check_baselines`: the text to print and whether anything changed."""

    lines: list[str] = field(default_factory=list)
    failed: bool = False


def run_compare(baseline: Path, run_dir: Path) -> tuple[int, str]:
    """``echo4o-eval compare BASELINE RUN_DIR --max-drop 0 --max-coverage-drop 0`` in a fresh
    process (the regression gate exactly as users run it); returns (exit code, output)."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "echo4o_eval", "compare", str(baseline), str(run_dir),
               "--max-drop", "0", "--max-coverage-drop", "0"]
    done = subprocess.run(command, capture_output=True, text=True)
    return done.returncode, (done.stdout + done.stderr).rstrip()


def check_baselines(run_dirs: Sequence[Path], baseline_dir: Path, update_hint: str) -> BaselineCheck:
    """Compare each run with its baseline (``compare`` with no tolerated drop, then exact
    equality of every image's score and every metric)."""
    from echo4o_eval.report.runs import RunInputError, load_view

    check = BaselineCheck()
    for run_dir in run_dirs:
        path = baseline_path(baseline_dir, run_dir)
        name = Path(run_dir).name
        if not path.is_file():
            check.failed = True
            check.lines.append(f"{name}: no baseline at {path}; {update_hint}")
            continue
        try:
            baseline, new = load_view(path), load_view(run_dir)
        except (RunInputError, KeyError, ValueError) as exc:
            check.failed = True
            check.lines.append(f"{name}: cannot read {path} or {run_dir}: {exc}; {update_hint}")
            continue
        code, output = run_compare(path, run_dir)
        check.lines.append(f"== {name}: echo4o-eval compare {path} {run_dir} --max-drop 0 --max-coverage-drop 0")
        check.lines.append(output)
        differences = metric_differences(baseline.result, new.result) + score_differences(baseline.scores, new.scores)
        if code != 0 or differences:
            check.failed = True
            verdict = {1: ", compare found a regression", 2: ", compare could not use the input"}.get(code, "")
            check.lines.append(f"{name}: CHANGED against the baseline ({len(differences)} difference(s){verdict}):")
            check.lines += [f"  {line}" for line in differences[:MAX_LISTED]]
            if len(differences) > MAX_LISTED:
                check.lines.append(f"  ... and {len(differences) - MAX_LISTED} more")
        else:
            check.lines.append(f"{name}: identical to the baseline")
    if check.failed:
        check.lines.append("The demo is seeded end to end, so a difference means generation, judging or "
                           f"scoring changed. If the change is intended: {update_hint}")
    else:
        check.lines.append(f"demo baseline check: all {len(run_dirs)} runs identical to {baseline_dir}")
    return check
