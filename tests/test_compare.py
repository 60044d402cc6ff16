"""Regression gate: a seeded regression fails, noise passes, inputs are checked, output formats."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from runfixtures import jitter, make_samples, verdicts, worsen, write_run

from echo4o_eval.statistics.compare import compare_runs, default_max_drop, power_of
from echo4o_eval.statistics.compare_format import format_github, format_text
from echo4o_eval.report.commands import compare_command
from echo4o_eval.report.runs import RunInputError, load_view
from echo4o_eval.records.types import Status


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    samples = make_samples(150)
    base = verdicts(samples, images=2, seed=1)
    return {
        "base": write_run(root / "base", samples, base, "ckpt-100"),
        "regressed": write_run(root / "regressed", samples, worsen(base, 0.25, seed=2),
                               "ckpt-200"),
        "noise": write_run(root / "noise", samples, jitter(base, 0.04, seed=3), "ckpt-201",
                           n_boot=0, failures=[("00003", 1, Status.JUDGE_ERROR)]),
        "root": root,
    }


def test_seeded_regression_fails_and_noise_passes(runs):
    base = load_view(runs["base"])
    bad = compare_runs(base, load_view(runs["regressed"]))
    assert bad.regressed
    overall = [r for r in bad.rows if r.tag == "" and r.metric == "overall"][0]
    assert overall.delta < -0.1 and overall.p_value < 0.05 and overall.ci_high < 0 and overall.gated
    assert overall.higher_is_better is True
    noise = compare_runs(base, load_view(runs["noise"]))
    assert not noise.regressed
    assert noise.n_pairs == 300  # a failed image is still a pair; aggregate counts it as coverage
    assert {r.verdict for r in noise.rows} <= {"better", "unchanged", "worse (within noise)",
                                               "worse (within tolerance)"}
    text = format_text(bad)
    assert text.splitlines()[-1].startswith("FAIL") and "overall" in text
    assert format_text(noise).splitlines()[-1].startswith("PASS")


def test_cli_exit_codes_and_github_summary(runs, tmp_path):
    cli = CliRunner()
    summary = tmp_path / "summary.md"
    res = cli.invoke(compare_command, [str(runs["base"]), str(runs["regressed"]), "--format", "github", "--summary-file", str(summary)])
    assert res.exit_code == 1, res.output
    assert "| (overall) | overall ↑ * |" in res.output and "**regression**" in res.output
    assert summary.read_text().startswith("### ❌")
    res = cli.invoke(compare_command, [str(runs["base"]), str(runs["noise"])])
    assert res.exit_code == 0, res.output
    res = cli.invoke(compare_command, [str(runs["base"]), str(runs["noise"]),
                                       "--format", "json"])
    assert json.loads(res.output)["regressed"] is False
    # a huge tolerance turns the regression into a pass
    res = cli.invoke(compare_command, [str(runs["base"]), str(runs["regressed"]), "--max-drop", "0.5"])
    assert res.exit_code == 0, res.output


def test_baseline_json_round_trip_gates_like_the_run_dir(runs, tmp_path):
    view = load_view(runs["base"])
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(view.to_baseline()))
    res = CliRunner().invoke(compare_command, [str(baseline), str(runs["regressed"])])
    assert res.exit_code == 1, res.output


def test_bad_inputs_exit_2(runs, tmp_path):
    other = tmp_path / "other.json"
    data = load_view(runs["base"]).to_baseline()
    data["manifest"]["benchmark"] = "geneval@2.0"
    other.write_text(json.dumps(data))
    res = CliRunner().invoke(compare_command, [str(other), str(runs["base"])])
    assert res.exit_code == 2 and "different geneval versions" in res.output
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"schema": "something-else"}')
    res = CliRunner().invoke(compare_command, [str(bogus), str(runs["base"])])
    assert res.exit_code == 2 and "not an echo4o-eval baseline" in res.output
    res = CliRunner().invoke(compare_command, [str(runs["base"]), str(runs["base"]), "--alpha", "2"])
    assert res.exit_code == 2
    with pytest.raises(RunInputError, match="not a run directory"):
        load_view(tmp_path)


def test_github_markdown_escapes_cells(runs):
    comparison = compare_runs(load_view(runs["base"]), load_view(runs["noise"]))
    comparison.notes.append("judge <b>|</b>")
    md = format_github(comparison)
    assert "judge &lt;b&gt;\\|&lt;/b&gt;" in md


def test_coverage_drop_fails_even_when_the_scored_images_look_fine(runs, tmp_path):
    samples = make_samples(150)
    base = verdicts(samples, images=2, seed=1)
    failed = [(s.id, j, Status.GENERATION_ERROR) for i, s in enumerate(samples) if i % 5
              for j in range(2)]  # 80% of the images (whole prompts): the rest is unchanged
    broken = write_run(tmp_path / "broken", samples, base, "ckpt-300", n_boot=0, failures=failed)
    comparison = compare_runs(load_view(runs["base"]), load_view(broken))
    assert comparison.baseline_images == (300, 300) and comparison.new_images == (60, 300)
    assert comparison.n_pairs == 300 and comparison.n_pairs_ok == 60
    assert comparison.regressed and [r.metric for r in comparison.regressions] == ["coverage"]
    assert [r.verdict for r in comparison.rows if r.metric == "coverage"] == ["regression"]
    text = format_text(comparison)
    assert "baseline 300/300 (100.0%), new 60/300 (20.0%)" in text and "60 ok in both" in text
    assert text.splitlines()[-1].startswith("FAIL") and "coverage" in text.splitlines()[-1]
    assert "20.0%" in format_github(comparison)
    res = CliRunner().invoke(compare_command, [str(runs["base"]), str(broken)])
    assert res.exit_code == 1, res.output
    res = CliRunner().invoke(compare_command, [str(runs["base"]), str(broken),
                                               "--max-coverage-drop", "0.9"])
    assert res.exit_code == 0, res.output
    # one failed image of 300 (noise run) stays within the default tolerance
    noise = compare_runs(load_view(runs["base"]), load_view(runs["noise"]))
    assert noise.new_images == (299, 300) and not noise.regressed


def _baseline_json(runs, tmp_path, name, edit):
    data = load_view(runs["base"]).to_baseline()
    edit(data)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def _one_line_error(res):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, res.output
    return lines[0]


def test_unusable_inputs_are_one_line_exit_2(runs, tmp_path):
    array = tmp_path / "array.json"
    array.write_text("[1, 2, 3]")
    assert "JSON list" in _one_line_error(CliRunner().invoke(compare_command, [str(array), str(runs["base"])]))
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\xff\xfe{")
    _one_line_error(CliRunner().invoke(compare_command, [str(garbage), str(runs["base"])]))
    broken = _baseline_json(runs, tmp_path, "broken", lambda d: d.update(samples={"a": 1}))
    _one_line_error(CliRunner().invoke(compare_command, [str(broken), str(runs["base"])]))
    missing = tmp_path / "nope"
    _one_line_error(CliRunner().invoke(compare_command, [str(missing), str(runs["base"])]))


def test_different_variants_and_prompt_sets_are_refused(runs, tmp_path):
    long = _baseline_json(runs, tmp_path, "long", lambda d: d["manifest"].update(variant="long"))
    line = _one_line_error(CliRunner().invoke(compare_command, [str(long), str(runs["base"])]))
    assert "different variants" in line and "long" in line

    def subset(d):
        d["samples"] = d["samples"][:100]
        kept = {s["id"] for s in d["samples"]}
        d["scores"] = [s for s in d["scores"] if s["sample_id"] in kept]
    small = _baseline_json(runs, tmp_path, "small", subset)
    line = _one_line_error(CliRunner().invoke(compare_command, [str(small), str(runs["regressed"])]))
    assert "different prompt sets" in line and "--intersect" in line
    res = CliRunner().invoke(compare_command, [str(small), str(runs["regressed"]), "--intersect"])
    assert res.exit_code == 1, res.output
    assert "compared on 100 shared prompts; dropped 0 of base's and 50 of regressed's" in res.output


def test_output_states_the_gate_and_its_minimum_detectable_drop(runs):
    c = compare_runs(load_view(runs["base"]), load_view(runs["noise"]))
    text = format_text(c)
    assert "gate: overall (fraction) decides; max drop 0.02 (2.0 points)" in text
    assert "minimum detectable drop of overall at alpha 0.05 and 80% power" in text
    assert c.power is not None and c.power.mdd > 0.02 and c.power.too_small
    assert "WARNING: these runs are too small to reliably detect a drop of 0.02" in text
    assert "images per prompt (or seeds)" in text
    big = compare_runs(load_view(runs["base"]), load_view(runs["noise"]), max_drop=0.3)
    assert not big.power.too_small and "WARNING" not in format_text(big)


def test_max_drop_defaults_in_each_metrics_unit():
    assert default_max_drop("fraction") == 0.02 and default_max_drop("score_0_10") == 0.2
    # the best one-sided test against a 3-point drop with SD 0.0134 (issue figures): ~72%
    assert abs(power_of(0.0134, 10**6, 0.05, 0.8, 0.03).power_at_max_drop - 0.724) < 0.005


def test_per_tag_rows_use_holm_and_gate_only_when_asked(runs):
    c = compare_runs(load_view(runs["base"]), load_view(runs["regressed"]))
    tags = [r for r in c.rows if r.tag]
    assert tags and all(r.p_holm is not None and r.p_holm >= r.p_value for r in tags)
    assert not any(r.gated for r in tags)
    assert not any(r.regression for r in tags)
    gated = compare_runs(load_view(runs["base"]), load_view(runs["regressed"]), gate_tags=True)
    assert any(r.regression for r in gated.rows if r.tag)


def test_imagine_bench_gate_is_in_its_0_to_10_unit(tmp_path, data_dir):
    from report_board_runs import imagine_reply, official
    from vlm_runfixtures import write_vlm_run

    samples = official("imagine_bench", data_dir)[::9]

    def lower(sample, i, key):
        reply = json.loads(imagine_reply(sample, i, key))
        return json.dumps({k: {**v, "score": max(0, v["score"] - 2)} for k, v in reply.items()})

    base = write_vlm_run(tmp_path / "base", "imagine_bench", samples, imagine_reply, images=1)
    worse = write_vlm_run(tmp_path / "worse", "imagine_bench", samples, lower, images=1)
    res = CliRunner().invoke(compare_command, [str(base), str(worse)])
    assert res.exit_code == 1, res.output
    assert "gate: overall (score_0_10) decides; max drop 0.2 in its unit" in res.output
    res = CliRunner().invoke(compare_command, [str(base), str(worse), "--max-drop", "3"])
    assert res.exit_code == 0, res.output
