"""The jackknife's shortcut (evaluators' ``metric_terms``) gives the replicates that re-running
``aggregate`` gives, for every built-in benchmark and mode, on awkward synthetic runs: failed
statuses, missing scores, several images per prompt, tags with fewer prompts than groups, a
tag with one prompt, a tag where nothing was scored. Also: the scipy-free quantiles agree with
scipy, and a hook that disagrees with its aggregate is not used."""

from __future__ import annotations

import math
import random
import warnings

import pytest

from echo4o_eval.records.types import Sample, SampleScore, Status
from echo4o_eval.statistics import jackknife
from echo4o_eval.statistics.jackknife import confidence_intervals, paired_changes, replicates
from echo4o_eval.statistics.terms import terms_hook

FAILED = [Status.JUDGE_ERROR, Status.PARSE_ERROR, Status.BAD_IMAGE, Status.MISSING_IMAGE,
          Status.NOT_SCORED, Status.SCORE_ERROR, Status.GENERATION_ERROR]


def _rerun_only(aggregate):
    """The same aggregate without its evaluator: the jackknife must re-run it."""
    return lambda samples, scores: aggregate(samples, scores)


def synthetic(tags, values_of, seed=0, n_prompts=None, metadata_of=lambda rng, tag: {}):
    """Samples and scores: tag sizes from ``n_prompts`` (default: 1, 3, 12, 40, 70 prompts by
    tag), 1-4 images per prompt, about 12% failures of every kind, some prompts without any
    score; with an odd seed, one tag where every image failed."""
    rng = random.Random(seed)
    sizes = n_prompts or [1, 3, 12, 40, 70]
    samples, scores = [], []
    for t, tag in enumerate(tags):
        for _ in range(sizes[t % len(sizes)]):
            sid = str(len(samples) + 1)
            samples.append(Sample(sid, len(samples), f"prompt {sid}", tag, metadata_of(rng, tag)))
            if rng.random() < 0.05:
                continue  # a prompt with no score at all
            for image in range(rng.randint(1, 4)):
                all_failed = seed % 2 == 1 and t == len(tags) - 1 and len(tags) > 2
                if all_failed or rng.random() < 0.12:
                    status = rng.choice(FAILED)
                    scores.append(SampleScore(sid, image, tag, status, values_of(rng, tag, False)))
                else:
                    scores.append(SampleScore(sid, image, tag, Status.OK, values_of(rng, tag, True)))
    return samples, scores


def assert_same_replicates(aggregate, samples, scores, n_groups=50):
    assert terms_hook(aggregate) is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the hook must agree with aggregate on the full sample
        (fast,) = replicates([(aggregate, scores)], samples, n_groups)
    (slow,) = replicates([(_rerun_only(aggregate), scores)], samples, n_groups)
    assert fast.keys == slow.keys and fast.df == slow.df
    checked = 0
    for row_fast, row_slow in zip(fast.values, slow.values):
        for key, a, b in zip(fast.keys, row_fast, row_slow):
            assert math.isnan(a) == math.isnan(b), (key, a, b)
            if not math.isnan(a):
                assert abs(a - b) <= 1e-12, (key, a, b)
                checked += 1
    assert checked > 0  # there was something to compare
    return fast


def assert_same_intervals(aggregate, samples, scores):
    point = aggregate(samples, scores)
    fast = confidence_intervals(aggregate, samples, scores, point)
    slow = confidence_intervals(_rerun_only(aggregate), samples, scores, point)
    pairs = [(fast.metrics, slow.metrics)] + [(fast.per_tag[t], slow.per_tag[t]) for t in fast.per_tag]
    with_interval = 0
    for a, b in pairs:
        for name in a:
            for field in ("ci_low", "ci_high"):
                x, y = getattr(a[name], field), getattr(b[name], field)
                assert (x is None) == (y is None), (name, x, y)
                if x is not None:
                    assert abs(x - y) <= 1e-12, (name, field, x, y)
                    with_interval += 1
    assert with_interval > 0


def assert_same_paired_changes(aggregate, samples, scores_a, scores_b):
    fast = paired_changes(aggregate, samples, scores_a, scores_b)
    slow = paired_changes(_rerun_only(aggregate), samples, scores_a, scores_b)
    assert [(c.tag, c.metric, c.df) for c in fast] == [(c.tag, c.metric, c.df) for c in slow]
    for a, b in zip(fast, slow):
        for field in ("delta", "se", "ci_low", "ci_high"):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None) == (y is None), (a.tag, a.metric, field)
            if x is not None:
                assert abs(x - y) <= 1e-12, (a.tag, a.metric, field, x, y)


def check_all(aggregate, tags, values_of, **kw):
    for seed in (0, 1):
        samples, scores = synthetic(tags, values_of, seed=seed, **kw)
        assert_same_replicates(aggregate, samples, scores)
        assert_same_replicates(aggregate, samples, scores, n_groups=7)
    samples, scores = synthetic(tags, values_of, seed=2, **kw)
    assert_same_intervals(aggregate, samples, scores)
    _, other = synthetic(tags, values_of, seed=3, **kw)
    assert_same_paired_changes(aggregate, samples, scores, other)


GPP_TAGS = ["single_object", "two_object", "counting", "colors", "position", "color_attr", "multi_count"]


def correct_values(rng, tag, ok):
    return {"correct": rng.random() < 0.6} if ok else {}


@pytest.mark.parametrize("mode", ["default", "parity"])
def test_geneval_pp_vlm(mode):
    from echo4o_eval.benchmarks.geneval_pp.vlm import GenEvalPlusPlusVLMEvaluator

    check_all(GenEvalPlusPlusVLMEvaluator({"mode": mode}).aggregate, GPP_TAGS, correct_values)


@pytest.mark.parametrize("mode", ["default", "parity"])
def test_geneval_pp_detector(mode):
    from echo4o_eval.benchmarks.geneval_pp.detector import GenEvalPlusPlusDetectorEvaluator

    check_all(GenEvalPlusPlusDetectorEvaluator({"mode": mode}).aggregate, GPP_TAGS, correct_values)


@pytest.mark.parametrize("mode", ["default", "parity"])
def test_geneval_detector(mode):
    from echo4o_eval.benchmarks.geneval.detector import GenEvalEvaluator

    tags = ["single_object", "two_object", "counting", "colors", "position", "color_attr"]
    check_all(GenEvalEvaluator({"mode": mode}).aggregate, tags, correct_values)


@pytest.mark.parametrize("mode", ["default", "parity"])
def test_imagine_bench(mode):
    from echo4o_eval.benchmarks.imagine_bench.vlm import ImagineBenchEvaluator

    tags = ["COLOR", "SHAPE", "MATERIAL", "TIME", "Multi-Object", "ENVIRONMENT", "COMBINATION", "SIZE"]

    def values(rng, tag, ok):
        return {"score": round(rng.uniform(0, 10), 3)} if ok else {}

    check_all(ImagineBenchEvaluator({"mode": mode}).aggregate, tags, values)


@pytest.mark.parametrize("mode,language", [("default", "en"), ("parity", "en"), ("default", "zh")])
def test_omnicontext(mode, language):
    from echo4o_eval.benchmarks.omnicontext.vlm import OFFICIAL_CRASH, OmniContextEvaluator

    tags = ["single_character", "multiple_object", "single_object", "scene_character",
            "multiple_character", "scene_object", "multiple_character_object", "scene_character_object"]
    crashes = []

    def values(rng, tag, ok):
        pf, sc = rng.randint(0, 10), rng.randint(0, 10)
        if ok:
            return {"prompt_following": pf, "subject_consistency": sc, "score": math.sqrt(pf * sc)}
        if not crashes and rng.random() < 0.05:  # parity: one image on which the official run stops
            crashes.append(tag)
            return {"prompt_following": -1, "subject_consistency": sc, OFFICIAL_CRASH: True}
        return {}

    def metadata(rng, tag):
        x = rng.random()
        return {"instruction_language": "en"} if x < 0.8 else {"instruction_language": "zh"} if x < 0.95 else {}

    check_all(OmniContextEvaluator({"mode": mode, "language": language}).aggregate, tags, values,
              metadata_of=metadata)
    assert crashes


def test_dpg_bench():
    from echo4o_eval.benchmarks.dpg_bench.vlm import DPGBenchEvaluator

    names = ["entity - whole", "entity - part", "attribute - color", "relation - spatial", "global",
             "other - count"]

    def values(rng, tag, ok):
        if not ok:
            return {}
        cats = [(n, float(rng.random() < 0.7)) for n in names if rng.random() < 0.6]
        if rng.random() < 0.01:
            cats.append(("attribute - rare", 1.0))  # in one or two prompts only
        if not cats:
            cats = [("global", 1.0)]
        return {"score": sum(v for _, v in cats) / len(cats), "categories": cats}

    check_all(DPGBenchEvaluator({}).aggregate, ["dpg"] * 1 + ["x", "y"], values, n_prompts=[40, 30, 60])


def test_a_hook_that_disagrees_with_aggregate_is_not_used():
    from echo4o_eval.benchmarks.geneval_pp.vlm import GenEvalPlusPlusVLMEvaluator
    from echo4o_eval.statistics.terms import TermsBuilder

    class Wrong(GenEvalPlusPlusVLMEvaluator):
        def aggregate(self, samples, scores):
            return super().aggregate(samples, scores)

        def metric_terms(self, samples, scores):
            terms = TermsBuilder()
            for s in scores:
                terms.add(s.sample_id, "n")
            return terms.build(lambda t: {("", "overall"): 0.5})

    samples, scores = synthetic(GPP_TAGS, correct_values)
    ev = Wrong({})
    with pytest.warns(RuntimeWarning, match="metric_terms gives"):
        (rep,) = replicates([(ev.aggregate, scores)], samples)
    (slow,) = replicates([(_rerun_only(ev.aggregate), scores)], samples)
    assert str(rep.values) == str(slow.values)  # the re-run values, nan included


def test_a_plugin_that_overrides_aggregate_only_keeps_the_reruns():
    from echo4o_eval.benchmarks.geneval_pp.vlm import GenEvalPlusPlusVLMEvaluator

    class Plugin(GenEvalPlusPlusVLMEvaluator):
        def aggregate(self, samples, scores):
            return super().aggregate(samples, scores[: len(scores) // 2])

    assert terms_hook(Plugin({}).aggregate) is None
    assert terms_hook(GenEvalPlusPlusVLMEvaluator({}).aggregate) is not None
    assert terms_hook(_rerun_only(Plugin({}).aggregate)) is None


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 10, 29, 49, 50, 99, 200, 201, 2.5])
def test_t_quantile_agrees_with_scipy(df):
    from scipy.special import stdtrit

    from echo4o_eval.statistics.quantiles import t_quantile

    for p in (0.025, 0.05, 0.1, 0.5, 0.6, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995):
        assert t_quantile(p, df) == pytest.approx(float(stdtrit(df, p)), rel=1e-13, abs=1e-15)
    assert jackknife.t_quantile(0.975, df) == t_quantile(0.975, df)


def test_normal_quantile_and_wilson_agree_with_scipy():
    from scipy.stats import norm

    from echo4o_eval.statistics.basic import wilson_interval
    from echo4o_eval.statistics.quantiles import normal_quantile

    for p in (0.001, 0.025, 0.5, 0.9, 0.975, 0.995):
        assert normal_quantile(p) == pytest.approx(float(norm.ppf(p)), rel=1e-14, abs=1e-15)
    z = float(norm.ppf(0.975))
    for n in (10, 40, 280, 1120):
        assert wilson_interval(0, n) == (0.0, pytest.approx((z * z / n) / (1 + z * z / n), rel=1e-13))
        assert wilson_interval(n, n) == (pytest.approx(1 / (1 + z * z / n), rel=1e-13), 1.0)


def test_intervals_import_neither_scipy_nor_numpy():
    """A run's intervals (t interval and the Wilson boundary) import neither scipy nor numpy."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from echo4o_eval.benchmarks.geneval_pp.vlm import GenEvalPlusPlusVLMEvaluator\n"
        "from echo4o_eval.records.types import Sample, SampleScore, Status\n"
        "from echo4o_eval.statistics.jackknife import confidence_intervals\n"
        "samples = [Sample(str(i), i, 'p', 'ab'[i % 2]) for i in range(60)]\n"
        "scores = [SampleScore(s.id, 0, s.tag, Status.OK, {'correct': s.tag == 'a' or i % 3 == 0})\n"
        "          for i, s in enumerate(samples)]\n"
        "ev = GenEvalPlusPlusVLMEvaluator({})\n"
        "r = confidence_intervals(ev.aggregate, samples, scores, ev.aggregate(samples, scores))\n"
        "assert r.per_tag['a']['accuracy'].ci_low < 1.0 and r.metrics['overall'].ci_low is not None\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'numpy'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_groups_are_numpys_permutations_without_numpy():
    """assign_groups deals the prompts exactly as numpy's default_rng(seed).permutation did."""
    import numpy as np

    from echo4o_eval.statistics.jackknife import assign_groups
    from echo4o_eval.statistics.shuffle import Generator

    rnd = random.Random(7)
    for seed in [*range(40), 2**32 - 1, 2**32, 2**64 + 5, 2**160 + 9]:
        ours, theirs = Generator(seed), np.random.default_rng(seed)
        for _ in range(6):  # one generator across calls, as assign_groups uses it across tags
            items = list(range(rnd.choice([0, 1, 2, 3, 7, 40, 100, 553])))
            assert ours.permutation(items) == theirs.permutation(items).tolist()

    def numpy_groups(samples, n_groups, seed):  # the implementation before (numpy)
        rng = np.random.default_rng(seed)
        by_tag = {}
        for i, s in enumerate(samples):
            by_tag.setdefault(s.tag, []).append(i)
        groups, dealt = [0] * len(samples), 0
        for tag in sorted(by_tag):
            for i in rng.permutation(by_tag[tag]).tolist():
                groups[i] = dealt % n_groups
                dealt += 1
        return groups

    samples, _ = synthetic(GPP_TAGS, correct_values)
    for seed in range(5):
        for n_groups in (2, 7, 50):
            assert assign_groups(samples, n_groups, seed) == numpy_groups(samples, n_groups, seed)
