"""Regression gate: a seeded regression fails, noise passes, inputs are checked, output formats."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from runfixtures import jitter, make_samples, verdicts, worsen, write_run

from echo4o_eval.statistics.compare import compare_runs, format_github, format_text
from echo4o_eval.report.commands import compare_command
from echo4o_eval.report.runs import RunInputError, load_view
from echo4o_eval.types import Status


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    samples = make_samples(150)
    base = verdicts(samples, images=2, seed=1)
    return {
        "base": write_run(root / "base", samples, base, "ckpt-100", n_boot=0),
        "regressed": write_run(root / "regressed", samples, worsen(base, 0.25, seed=2),
                               "ckpt-200", n_boot=0),
        "noise": write_run(root / "noise", samples, jitter(base, 0.04, seed=3), "ckpt-201",
                           n_boot=0, failures=[("00003", 1, Status.JUDGE_ERROR)]),
        "root": root,
    }


def test_seeded_regression_fails_and_noise_passes(runs):
    base = load_view(runs["base"])
    bad = compare_runs(base, load_view(runs["regressed"]), n_boot=400)
    assert bad.regressed
    overall = [r for r in bad.rows if r.tag == "" and r.metric == "overall"][0]
    assert overall.delta < -0.1 and overall.p_holm < 0.05 and overall.ci_high < 0
    assert overall.higher_is_better is True
    noise = compare_runs(base, load_view(runs["noise"]), n_boot=400)
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
    res = cli.invoke(compare_command, [str(runs["base"]), str(runs["regressed"]), "--n-boot",
                                       "200", "--format", "github", "--summary-file", str(summary)])
    assert res.exit_code == 1, res.output
    assert "| (overall) | overall ↑ |" in res.output and "**regression**" in res.output
    assert summary.read_text().startswith("### ❌")
    res = cli.invoke(compare_command, [str(runs["base"]), str(runs["noise"]), "--n-boot", "200"])
    assert res.exit_code == 0, res.output
    res = cli.invoke(compare_command, [str(runs["base"]), str(runs["noise"]), "--n-boot", "100",
                                       "--format", "json"])
    assert json.loads(res.output)["regressed"] is False
    # a huge tolerance turns the regression into a pass
    res = cli.invoke(compare_command, [str(runs["base"]), str(runs["regressed"]), "--n-boot",
                                       "100", "--max-drop", "0.5"])
    assert res.exit_code == 0, res.output


def test_baseline_json_round_trip_gates_like_the_run_dir(runs, tmp_path):
    view = load_view(runs["base"])
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(view.to_baseline()))
    res = CliRunner().invoke(compare_command, [str(baseline), str(runs["regressed"]),
                                               "--n-boot", "200"])
    assert res.exit_code == 1, res.output


def test_bad_inputs_exit_2(runs, tmp_path):
    other = tmp_path / "other.json"
    data = load_view(runs["base"]).to_baseline()
    data["manifest"]["benchmark"] = "geneval@2.0"
    other.write_text(json.dumps(data))
    res = CliRunner().invoke(compare_command, [str(other), str(runs["base"])])
    assert res.exit_code == 2 and "different benchmarks or versions" in res.output
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"schema": "something-else"}')
    res = CliRunner().invoke(compare_command, [str(bogus), str(runs["base"])])
    assert res.exit_code == 2 and "not an echo4o-eval baseline" in res.output
    res = CliRunner().invoke(compare_command, [str(runs["base"]), str(runs["base"]), "--alpha", "2"])
    assert res.exit_code == 2
    with pytest.raises(RunInputError, match="not a run directory"):
        load_view(tmp_path)


def test_github_markdown_escapes_cells(runs):
    comparison = compare_runs(load_view(runs["base"]), load_view(runs["noise"]), n_boot=50)
    comparison.notes.append("judge <b>|</b>")
    md = format_github(comparison)
    assert "judge &lt;b&gt;\\|&lt;/b&gt;" in md


def test_coverage_drop_fails_even_when_the_scored_images_look_fine(runs, tmp_path):
    samples = make_samples(150)
    base = verdicts(samples, images=2, seed=1)
    failed = [(s.id, j, Status.GENERATION_ERROR) for i, s in enumerate(samples) if i % 5
              for j in range(2)]  # 80% of the images (whole prompts): the rest is unchanged
    broken = write_run(tmp_path / "broken", samples, base, "ckpt-300", n_boot=0, failures=failed)
    comparison = compare_runs(load_view(runs["base"]), load_view(broken), n_boot=200)
    assert comparison.baseline_images == (300, 300) and comparison.new_images == (60, 300)
    assert comparison.n_pairs == 300 and comparison.n_pairs_ok == 60
    assert comparison.regressed and [r.metric for r in comparison.regressions] == ["coverage"]
    assert [r.verdict for r in comparison.rows if r.metric == "coverage"] == ["regression"]
    text = format_text(comparison)
    assert "baseline 300/300 (100.0%), new 60/300 (20.0%)" in text and "60 ok in both" in text
    assert text.splitlines()[-1].startswith("FAIL") and "coverage" in text.splitlines()[-1]
    assert "20.0%" in format_github(comparison)
    res = CliRunner().invoke(compare_command, [str(runs["base"]), str(broken), "--n-boot", "100"])
    assert res.exit_code == 1, res.output
    res = CliRunner().invoke(compare_command, [str(runs["base"]), str(broken), "--n-boot", "100",
                                               "--max-coverage-drop", "0.9"])
    assert res.exit_code == 0, res.output
    # one failed image of 300 (noise run) stays within the default tolerance
    noise = compare_runs(load_view(runs["base"]), load_view(runs["noise"]), n_boot=50)
    assert noise.new_images == (299, 300) and not noise.regressed
