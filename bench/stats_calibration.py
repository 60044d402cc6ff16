"""Do the intervals and the regression gate mean what they say? Seeded simulations.

Three designs shaped like the real benchmarks (tag sizes from the official prompt files):

* GenEval: 553 prompts in 6 tags, 4 images per prompt, pass/fail; overall = mean of tag accuracies.
* GenEval++: 280 prompts in 7 tags of 40, 1 image per prompt, pass/fail; overall = mean of tags.
* Imagine-Bench: 270 prompts, 1 image per prompt, scores 0..10 (Binomial(10, q)); overall =
  3/2/2/2-weighted mean of four type means (raw types are the strata).

Each prompt has its own difficulty (Beta-distributed success probability), so the images of a
prompt are correlated: prompts are the sampled units, images repeated measures.

Checks (all with the estimator the package uses, ``echo4o_eval.statistics.jackknife``: the
stratified delete-a-group jackknife over prompts, t interval; the replicate arithmetic is
vectorised here over trials and checked against the package's own code in
``tests/test_stats_calibration.py``):

1. single-run coverage: new prompts from the population and new images each trial; does the
   95% interval contain the population value?
2. paired coverage: the benchmark's fixed prompts, new images for both runs each trial; does the
   interval of the change contain the true change (0, or a true drop)?
3. gate (GenEval 553x4): false alarms with no change, and power against a true 3-point drop with
   new images, at alpha 0.05 and the default max drop; beside it the best possible one-sided
   test (known SD of the change): Phi(drop / sd - z_alpha).

Run: ``python bench/stats_calibration.py [--trials N] [--seed S]`` (a few seconds for 10000).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from echo4o_eval.statistics.jackknife import DEFAULT_GROUPS, assign_groups  # noqa: E402
from echo4o_eval.records.types import Sample  # noqa: E402


@dataclass(frozen=True)
class Design:
    """A benchmark-shaped design: strata (raw tags) with sizes, the metric's groups and weights."""

    name: str
    strata: dict  # raw tag -> number of prompts
    group_of: dict  # raw tag -> metric group (the metric averages group means)
    weights: dict  # metric group -> weight
    images: int
    levels: int  # 1: pass/fail; 10: scores 0..10 as Binomial(10, q)
    means: dict  # metric group -> population mean of q
    concentration: float  # Beta concentration of per-prompt q (smaller: more spread)

    @property
    def scale(self) -> float:
        """Full scale of the metric (1 for fractions, 10 for 0..10 scores)."""
        return float(self.levels)


GENEVAL_TAGS = {"single_object": 80, "two_object": 99, "counting": 80, "colors": 94,
                "position": 100, "color_attr": 100}
GENEVAL = Design("GenEval", GENEVAL_TAGS, {t: t for t in GENEVAL_TAGS}, {t: 1 for t in GENEVAL_TAGS},
                 4, 1, {t: 0.62 for t in GENEVAL_TAGS}, 3.6)
PP_TAGS = ["color_attr", "spatial_count_attr", "color_spatial_attr", "color_count_attr",
           "multi_object_count_attr", "size_spatial_attr", "counting"]
GENEVAL_PP = Design("GenEval++", {t: 40 for t in PP_TAGS}, {t: t for t in PP_TAGS},
                    {t: 1 for t in PP_TAGS}, 1, 1,
                    dict(zip(PP_TAGS, [0.7, 0.4, 0.5, 0.6, 0.3, 0.5, 0.8])), 2.0)
IMAGINE_TYPES = {"COLOR": 30, "SHAPE": 30, "SIZE": 30, "MATERIAL": 30, "COMBINATION": 30,
                 "TIME": 30, "ENVIRONMENT": 30, "Multi-Object": 60}
IMAGINE_GROUP = {"COLOR": "Attribute shift", "SHAPE": "Attribute shift", "SIZE": "Attribute shift",
                 "MATERIAL": "Hybridization", "COMBINATION": "Hybridization",
                 "TIME": "Spatiotemporal", "ENVIRONMENT": "Spatiotemporal",
                 "Multi-Object": "Multi-Object"}
IMAGINE = Design("Imagine-Bench", IMAGINE_TYPES, IMAGINE_GROUP,
                 {"Attribute shift": 3, "Hybridization": 2, "Spatiotemporal": 2, "Multi-Object": 2},
                 1, 10, {"Attribute shift": 0.7, "Hybridization": 0.6, "Spatiotemporal": 0.65,
                         "Multi-Object": 0.5}, 4.0)
DESIGNS = (GENEVAL, GENEVAL_PP, IMAGINE)


class Layout:
    """Prompt order, metric groups and jackknife groups of a design (as the package forms them)."""

    def __init__(self, design: Design, n_groups: int = DEFAULT_GROUPS, seed: int = 0):
        self.design = design
        self.tags = [t for t, n in design.strata.items() for _ in range(n)]
        self.samples = [Sample(f"{i:05d}", i, f"prompt {i}", t) for i, t in enumerate(self.tags)]
        self.metric_groups = sorted(design.weights)
        gi = {g: k for k, g in enumerate(self.metric_groups)}
        self.group_index = np.array([gi[design.group_of[t]] for t in self.tags])
        self.weights = np.array([design.weights[g] for g in self.metric_groups], dtype=float)
        self.n_groups = min(n_groups, len(self.samples))
        self.jk = np.array(assign_groups(self.samples, self.n_groups, seed))
        self.means = np.array([design.means[design.group_of[t]] for t in self.tags])

    def draw_q(self, rng, size=None):
        """Per-prompt success probabilities from the population (Beta around the tag mean)."""
        k = self.design.concentration
        shape = self.means.shape if size is None else (size, len(self.means))
        return rng.beta(self.means * k, (1 - self.means) * k, size=shape)

    def draw_images(self, rng, q):
        """Per-prompt totals of image scores: sum over images of Binomial(levels, q)."""
        d = self.design
        return rng.binomial(d.levels * d.images, q) / 1.0  # a sum of Binomials with equal q

    def metric(self, totals):
        """The benchmark metric from per-prompt score totals (trials x prompts)."""
        theta, _ = self.metric_and_replicates(totals)
        return theta

    def metric_and_replicates(self, totals):
        """(theta, replicates) for totals of shape (trials, prompts); replicates: (trials, G)."""
        d = self.design
        groups = len(self.metric_groups)
        onehot = np.zeros((len(self.tags), groups, self.n_groups))
        onehot[np.arange(len(self.tags)), self.group_index, self.jk] = 1.0
        flat = onehot.reshape(len(self.tags), -1)
        s = (totals @ flat).reshape(totals.shape[0], groups, self.n_groups)
        n = (np.full(len(self.tags), d.images * d.levels, dtype=float) @ flat).reshape(groups, self.n_groups)
        full = s.sum(axis=2) / n.sum(axis=1)  # trials x groups: mean per group on the 0..1 scale
        rep = (s.sum(axis=2)[:, :, None] - s) / (n.sum(axis=1)[:, None] - n)[None]
        w = self.weights / self.weights.sum()
        theta = d.scale * (full @ w)
        replicates = d.scale * np.einsum("tgk,g->tk", rep, w)
        return theta, replicates

    def true_value(self, q):
        """The metric's expectation given per-prompt q (fixed prompts)."""
        return self.metric(q[None, :] * self.design.levels * self.design.images)[0]


def jackknife_interval(theta, replicates, confidence=0.95):
    """(low, high, se) of the package's delete-a-group jackknife t interval, vectorised."""
    from scipy.stats import t

    g = replicates.shape[1]
    se = np.sqrt((g - 1) / g * ((replicates - theta[:, None]) ** 2).sum(axis=1))
    half = t.ppf(0.5 + confidence / 2, g - 1) * se
    return theta - half, theta + half, se


def single_run_coverage(design, trials, seed):
    """Share of trials whose 95% interval holds the population value (new prompts each trial)."""
    layout = Layout(design)
    rng = np.random.default_rng(seed)
    q = layout.draw_q(rng, trials)
    totals = layout.draw_images(rng, q)
    theta, reps = layout.metric_and_replicates(totals)
    low, high, se = jackknife_interval(theta, reps)
    w = layout.weights / layout.weights.sum()
    truth = design.scale * sum(wi * design.means[g] for wi, g in zip(w, layout.metric_groups))
    return float(np.mean((low <= truth) & (truth <= high))), float(np.mean(high - low)), \
        float(np.std(theta, ddof=1)), float(np.mean(se))


def drop_q(layout, q, drop):
    """q lowered proportionally inside each metric group so each group mean falls by ``drop``
    (in the 0..1 scale of q): the fixed-prompt metric falls by exactly ``drop`` x scale."""
    out = q.copy()
    for k in range(len(layout.metric_groups)):
        mask = layout.group_index == k
        out[mask] = q[mask] * (1 - drop / q[mask].mean())
    return out


def paired_trials(design, trials, seed, drop=0.0):
    """(delta, se, low, high, true delta) of paired changes between two runs with new images."""
    layout = Layout(design)
    rng = np.random.default_rng(seed)
    q_a = layout.draw_q(np.random.default_rng(seed + 1000))  # the benchmark's fixed prompts
    q_b = drop_q(layout, q_a, drop) if drop else q_a
    theta_a, rep_a = layout.metric_and_replicates(layout.draw_images(rng, np.broadcast_to(q_a, (trials, len(q_a)))))
    theta_b, rep_b = layout.metric_and_replicates(layout.draw_images(rng, np.broadcast_to(q_b, (trials, len(q_b)))))
    delta, reps = theta_b - theta_a, rep_b - rep_a
    low, high, se = jackknife_interval(delta, reps)
    truth = layout.true_value(q_b) - layout.true_value(q_a)
    return delta, se, low, high, truth


def gate(delta, se, df, alpha, max_drop):
    """The compare gate for a higher-is-better metric: worsening > max_drop and one-sided p < alpha."""
    from scipy.stats import t

    worsening = -delta
    p = t.sf(worsening / np.where(se > 0, se, np.inf), df)
    return (worsening > max_drop) & (p < alpha)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from scipy.stats import norm

    start = time.perf_counter()
    print(f"trials per figure: {args.trials} (binomial SE of a 95% coverage ~ "
          f"{math.sqrt(0.95 * 0.05 / args.trials):.2%}); jackknife groups {DEFAULT_GROUPS}")
    print(f"{'design':<14} {'single-run coverage':>20} {'width':>8} {'true 2*1.96*sd':>15} "
          f"{'paired cov (0)':>15} {'paired cov (drop)':>18} {'paired width':>13} {'true':>8}")
    for design in DESIGNS:
        cov, width, sd, _ = single_run_coverage(design, args.trials, args.seed)
        drop = 0.03
        d0, se0, lo0, hi0, t0 = paired_trials(design, args.trials, args.seed + 1)
        d1, se1, lo1, hi1, t1 = paired_trials(design, args.trials, args.seed + 2, drop)
        pc0 = float(np.mean((lo0 <= t0) & (t0 <= hi0)))
        pc1 = float(np.mean((lo1 <= t1) & (t1 <= hi1)))
        print(f"{design.name:<14} {cov:>20.2%} {width:>8.4f} {2 * 1.96 * sd:>15.4f} {pc0:>15.2%} "
              f"{pc1:>18.2%} {np.mean(hi0 - lo0):>13.4f} {2 * 1.96 * np.std(d0, ddof=1):>8.4f}")
    layout_g = Layout(GENEVAL)
    df = layout_g.n_groups - 1
    d0, se0, *_ = paired_trials(GENEVAL, args.trials, args.seed + 3)
    d1, se1, *_, truth = paired_trials(GENEVAL, args.trials, args.seed + 4, 0.03)
    sd = float(np.std(d1, ddof=1))
    best = norm.cdf(0.03 / sd - norm.ppf(0.95))
    false_alarm = float(np.mean(gate(d0, se0, df, 0.05, 0.02)))
    power = float(np.mean(gate(d1, se1, df, 0.05, 0.02)))
    power_0 = float(np.mean(gate(d1, se1, df, 0.05, 0.0)))
    print(f"GenEval 553x4 gate, alpha 0.05, max drop 0.02: true change {truth:+.4f}, SD of the change "
          f"{sd:.4f} (mean se {np.mean(se1):.4f})")
    print(f"  no change fails {false_alarm:.2%} of trials; 3-point drop caught {power:.2%} "
          f"(max drop 0: {power_0:.2%}); best one-sided test {best:.2%}")
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
