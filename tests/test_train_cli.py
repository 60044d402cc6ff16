"""End to end from the CLI: export fixture -> `train` with in-loop evaluation at two steps ->
`report` (score-vs-step curve) -> `compare` step A vs step B; plus --print-config and errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from echo4o_eval.cli import main


def test_print_config_and_unknown_key():
    runner = CliRunner()
    result = runner.invoke(main, ["train", "run.max_steps=7", "optim.learning_rate=1e-4", "--print-config"])
    assert result.exit_code == 0, result.output
    assert "max_steps: 7" in result.output and "learning_rate: 0.0001" in result.output
    result = runner.invoke(main, ["train", "optim.lr=1e-4"])
    assert result.exit_code == 1
    assert "unknown key 'optim.lr'" in result.output


def test_train_config_file_and_bad_data(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("model:\n  pretrained: /nowhere\nrun:\n  max_steps: 3\n")
    result = CliRunner().invoke(main, ["train", str(config), "run.max_steps=5", "--print-config"])
    assert result.exit_code == 0 and "max_steps: 5" in result.output and "pretrained: /nowhere" in result.output


@pytest.mark.slow
def test_export_train_with_in_loop_eval_then_report_curve_and_compare(tmp_path, data_dir):
    pytest.importorskip("diffusers")
    from tests.tiny_models import TINY_CLIP_NAME, save_tiny_clip, save_tiny_mask2former
    from tests.tiny_pipelines import save_tiny_sd3
    from tests.train_fixtures import write_bagel_parquet

    sd3 = save_tiny_sd3(tmp_path / "sd3")
    export = write_bagel_parquet(tmp_path / "export", count=8)
    m2f = save_tiny_mask2former(tmp_path / "m2f")
    _, clip_weights = save_tiny_clip(tmp_path / "clip")
    judge = {"detector_model": str(m2f), "clip_model": str(tmp_path / "clip" / f"{TINY_CLIP_NAME}.json"),
             "clip_pretrained": str(clip_weights), "min_score": 0, "color_min_score": 0, "device": "cpu"}
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(main, [
        "train", f"model.pretrained={sd3}", f"data.sources=[{export}]", f"run.output_dir={out}",
        "data.resolution=64", "run.mixed_precision=no", "run.report_to=tensorboard", "run.progress=false",
        "model.max_text_tokens=16", "run.batch_size=4", "run.max_steps=4", "run.save_every=2", "eval.every=2",
        "eval.limit=4", "eval.n_bootstrap=20", f"eval.data_dir={data_dir}", "eval.allow_download=false",
        "eval.generation={num_inference_steps: 2, width: 64, height: 64, guidance_scale: 2.0}",
        f"eval.judge_options={json.dumps(judge)}"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "eval step 2:" in result.output and "eval step 4:" in result.output
    runs = out / "eval" / "geneval_pp"
    step2, step4 = runs / "step-0000002", runs / "step-0000004"
    for run in (step2, step4):
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["benchmark_id"] == "geneval_pp"
        assert (run / "result.json").is_file()
    ids = [json.loads((r / "manifest.json").read_text()).get("generation_fingerprint") for r in (step2, step4)]
    assert ids[0] != ids[1]  # the step is in the model identity: two runs, not one reused
    assert (out / "checkpoints" / "step-0000004" / "trainer_state.json").is_file()
    assert list((out / "logs").rglob("events.out.tfevents*"))  # TensorBoard
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["type"] == "train"] == [1, 2, 3, 4]
    assert [r["step"] for r in log if r["type"] == "eval"] == [2, 4]

    report = runner.invoke(main, ["report", str(step2), str(step4), "-o", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    html = (tmp_path / "report" / "index.html").read_text()
    assert 'class="step-curve"' in html  # runs that differ only by step: a score-vs-step curve
    compare = runner.invoke(main, ["compare", str(step2), str(step4)])
    assert compare.exit_code in (0, 1), compare.output  # 1 would be a regression verdict, still a comparison
    assert "overall" in compare.output
