"""Speed of a run's intervals (the stratified delete-a-group jackknife, 50 groups), side by side.

Intervals are computed at the end of every scored run, after the last judge reply, so their
time is on the critical path of ``echo4o-eval score``. Two sizes (issue 11):

- GenEval++ judged by a VLM, 280 prompts x 4 images = 1,120 images (target < 0.1 s);
- GenEval with the detector, 553 prompts x 4 images = 2,212 images (target < 0.2 s).

For each, measured in one run on the same data:

1. in this process (numpy already imported), best of ``--repeat``: the shortcut (replicates from
   the evaluator's ``metric_terms``, what the package does) against re-running ``aggregate``
   50 times (what it does for an evaluator without the hook), with the ratio and the largest
   absolute difference between the two paths over every replicate value and interval end;
2. cold, in a fresh interpreter per figure (what the CLI pays: the first call, imports
   included): the package now, and the package of commit ``--before`` (its tree unpacked with
   ``git archive``: re-runs of ``aggregate`` and scipy's t quantile).

Run: ``python bench/intervals_speed.py [--repeat 5] [--before 9737dc3]``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "geneval_pp_vlm_1120": ("echo4o_eval.benchmarks.geneval_pp.vlm", "GenEvalPlusPlusVLMEvaluator",
                            {"single_object": 40, "two_object": 40, "counting": 40, "colors": 40,
                             "position": 40, "color_attr": 40, "multi_count": 40}),
    "geneval_detector_2212": ("echo4o_eval.benchmarks.geneval.detector", "GenEvalEvaluator",
                              {"single_object": 80, "two_object": 99, "counting": 80, "colors": 94,
                               "position": 100, "color_attr": 100}),
}

# Runs in a fresh interpreter: builds the case without numpy, then times the first call.
_COLD = r"""
import importlib, json, sys, time
sys.path[:0] = [{root!r}, {bench!r}]
module, cls, sizes = {module!r}, {cls!r}, {sizes!r}
from intervals_speed import make_case  # this script's case, built with the package of {root!r}
samples, scores = make_case(sizes)
ev = getattr(importlib.import_module(module), cls)({{}})
jk = importlib.import_module("echo4o_eval.statistics.jackknife")
point = ev.aggregate(samples, scores)
before = set(sys.modules)
start = time.perf_counter()
jk.confidence_intervals(ev.aggregate, samples, scores, point, seed=0)
seconds = time.perf_counter() - start
heavy = sorted({{m.split(".")[0] for m in set(sys.modules) - before}} & {{"numpy", "scipy"}})
print(json.dumps({{"seconds": seconds, "imported": heavy}}))
"""


def make_case(sizes: dict[str, int], seed: int = 0):
    """Samples and scores: 4 images per prompt, 2% judge errors, 60% correct."""
    import random

    from echo4o_eval.records.types import Sample, SampleScore, Status

    rng = random.Random(seed)
    samples, scores = [], []
    for tag, n in sizes.items():
        for _ in range(n):
            sid = str(len(samples) + 1)
            samples.append(Sample(sid, len(samples), "p", tag))
            for j in range(4):
                ok = rng.random() > 0.02
                scores.append(SampleScore(sid, j, tag, Status.OK if ok else Status.JUDGE_ERROR,
                                          {"correct": rng.random() < 0.6} if ok else {}))
    return samples, scores


def best_of(repeat: int, call) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def max_difference(fast, slow) -> float:
    """Largest |fast - slow| over replicate values and interval ends (nan must match nan)."""
    worst = 0.0
    for row_a, row_b in zip(fast.values, slow.values):
        for a, b in zip(row_a, row_b):
            if math.isnan(a) != math.isnan(b):
                return math.inf
            if not math.isnan(a):
                worst = max(worst, abs(a - b))
    return worst


def interval_difference(a, b) -> float:
    worst = 0.0
    pairs = [(a.metrics, b.metrics)] + [(a.per_tag[t], b.per_tag[t]) for t in a.per_tag]
    for x, y in pairs:
        for name in x:
            for field in ("ci_low", "ci_high"):
                u, v = getattr(x[name], field), getattr(y[name], field)
                if (u is None) != (v is None):
                    return math.inf
                if u is not None:
                    worst = max(worst, abs(u - v))
    return worst


def cold(name: str, root: Path) -> dict:
    """The first call's time in a fresh interpreter importing the package from ``root``."""
    module, cls, sizes = CASES[name]
    code = _COLD.format(root=str(root), bench=str(Path(__file__).resolve().parent), module=module,
                        cls=cls, sizes=sizes)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    if done.returncode != 0:
        raise SystemExit(f"cold run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def before_checkout(commit: str, folder: Path) -> Path | None:
    """The tree of ``commit`` (``git archive``) unpacked in ``folder``, or None without git."""
    try:
        archive = subprocess.run(["git", "archive", "--format=tar", commit], capture_output=True,
                                 check=True, cwd=ROOT).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="in-process timings: best of N")
    parser.add_argument("--before", default="9737dc3", help="commit of the code before the shortcut")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import importlib

    from echo4o_eval.statistics.jackknife import confidence_intervals, replicates

    folder = Path(tempfile.mkdtemp(prefix="intervals-speed-"))
    old = before_checkout(args.before, folder)
    targets = {"geneval_pp_vlm_1120": 0.1, "geneval_detector_2212": 0.2}
    for name, (module, cls, sizes) in CASES.items():
        evaluator = getattr(importlib.import_module(module), cls)({})
        samples, scores = make_case(sizes)
        point = evaluator.aggregate(samples, scores)
        rerun = lambda s, sc: evaluator.aggregate(s, sc)  # noqa: E731 - no evaluator: no shortcut
        fast = best_of(args.repeat, lambda: confidence_intervals(evaluator.aggregate, samples, scores, point))
        slow = best_of(args.repeat, lambda: confidence_intervals(rerun, samples, scores, point))
        (rep_fast,) = replicates([(evaluator.aggregate, scores)], samples)
        (rep_slow,) = replicates([(rerun, scores)], samples)
        ci_diff = interval_difference(confidence_intervals(evaluator.aggregate, samples, scores, point),
                                      confidence_intervals(rerun, samples, scores, point))
        print(f"{name}: {len(scores)} images, {len(samples)} prompts, {len(point.per_tag)} tags")
        print(f"  in process: shortcut {fast * 1000:.1f} ms, re-running aggregate {slow * 1000:.1f} ms "
              f"(ratio {slow / fast:.0f}x); max |difference| replicates {max_difference(rep_fast, rep_slow):.1e}, "
              f"interval ends {ci_diff:.1e}")
        now = cold(name, ROOT)
        line = (f"  cold (fresh interpreter, first call, imports included): now {now['seconds'] * 1000:.0f} ms "
                f"(imported {', '.join(now['imported']) or 'nothing heavy'}; target < {targets[name]} s)")
        if old:
            then = cold(name, old)
            line += (f"; before ({args.before}) {then['seconds'] * 1000:.0f} ms (imported "
                     f"{', '.join(then['imported']) or 'nothing heavy'}); "
                     f"ratio {then['seconds'] / now['seconds']:.1f}x")
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
