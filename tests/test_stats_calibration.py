"""Intervals cover what they claim and the gate has power (seeded simulations, a few seconds).

The simulation lives in bench/stats_calibration.py (vectorised over trials); the first test
checks that its replicate arithmetic is exactly what the package computes with a benchmark's
real aggregate, so the coverage measured there is the package's coverage.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from echo4o_eval.benchmarks.geneval.detector import GenEvalEvaluator
from echo4o_eval.statistics.jackknife import confidence_intervals, paired_changes, replicates
from echo4o_eval.records.types import SampleScore, Status

BENCH = Path(__file__).resolve().parents[1] / "bench" / "stats_calibration.py"


@pytest.fixture(scope="module")
def sim():
    spec = importlib.util.spec_from_file_location("stats_calibration", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _scores(layout, images_correct):
    """SampleScores of a GenEval-shaped run from a prompts x images boolean array."""
    return [SampleScore(s.id, j, s.tag, Status.OK, {"correct": bool(images_correct[i, j])})
            for i, s in enumerate(layout.samples) for j in range(images_correct.shape[1])]


def test_simulation_replicates_equal_the_packages_with_the_real_geneval_aggregate(sim):
    layout = sim.Layout(sim.GENEVAL)
    rng = np.random.default_rng(3)
    q = layout.draw_q(rng)
    correct = rng.random((len(q), 4)) < q[:, None]
    aggregate = GenEvalEvaluator({"mode": "default"}).aggregate
    (rep,) = replicates([(aggregate, _scores(layout, correct))], layout.samples)
    j = rep.keys.index(("", "overall"))
    theta, vec = layout.metric_and_replicates(correct.sum(axis=1)[None, :].astype(float))
    assert math.isclose(rep.full[("", "overall")].value, theta[0], abs_tol=1e-12)
    assert np.allclose([row[j] for row in rep.values], vec[0], atol=1e-12)
    low, high, se = sim.jackknife_interval(theta, vec)
    scores = _scores(layout, correct)
    result = confidence_intervals(aggregate, layout.samples, scores, aggregate(layout.samples, scores))
    m = result.metrics["overall"]
    assert math.isclose(m.ci_low, low[0], abs_tol=1e-12) and math.isclose(m.ci_high, high[0], abs_tol=1e-12)
    other = rng.random((len(q), 4)) < q[:, None]
    change = [c for c in paired_changes(aggregate, layout.samples, scores, _scores(layout, other))
              if c.tag == "" and c.metric == "overall"][0]
    theta_b, vec_b = layout.metric_and_replicates(other.sum(axis=1)[None, :].astype(float))
    _, _, se_d = sim.jackknife_interval(theta_b - theta, vec_b - vec)
    assert math.isclose(change.se, se_d[0], rel_tol=1e-9)


@pytest.mark.parametrize("name", ["GenEval", "GenEval++", "Imagine-Bench"])
def test_95_percent_intervals_cover_94_to_96_percent(sim, name):
    design = {d.name: d for d in sim.DESIGNS}[name]
    coverage, *_ = sim.single_run_coverage(design, 4000, seed=11)
    assert 0.94 <= coverage <= 0.96, f"{name} single-run coverage {coverage:.2%}"
    for drop in (0.0, 0.03):
        _, _, low, high, truth = sim.paired_trials(design, 4000, seed=12, drop=drop)
        paired = float(np.mean((low <= truth) & (truth <= high)))
        assert 0.94 <= paired <= 0.96, f"{name} paired coverage (drop {drop}) {paired:.2%}"


def test_gate_catches_a_three_point_drop_and_rarely_fails_without_one(sim):
    layout = sim.Layout(sim.GENEVAL)
    df = layout.n_groups - 1
    d0, se0, *_ = sim.paired_trials(sim.GENEVAL, 4000, seed=21)
    d1, se1, *_ = sim.paired_trials(sim.GENEVAL, 4000, seed=22, drop=0.03)
    sd = float(np.std(d1, ddof=1))
    assert 0.0120 < sd < 0.0145  # the design: SD of the change about 0.0134
    false_alarms = float(np.mean(sim.gate(d0, se0, df, 0.05, 0.02)))
    power = float(np.mean(sim.gate(d1, se1, df, 0.05, 0.02)))
    assert false_alarms <= 0.05
    assert power >= 0.65
