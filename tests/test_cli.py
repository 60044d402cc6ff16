"""The command line end to end (subprocess and click runner)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from echo4o_eval.cli import main
from geneval_folder import build_geneval_folder

REPO = Path(__file__).resolve().parents[1]


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "echo4o_eval", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_help_imports_no_heavy_library():
    code = ("import sys; from click.testing import CliRunner; from echo4o_eval.cli import main;"
            "r = CliRunner().invoke(main, ['run', '--help']); assert r.exit_code == 0, r.output;"
            "CliRunner().invoke(main, ['ls']);"
            "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'open_clip', 'datasets') if m in sys.modules];"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_command_has_help():
    runner = CliRunner()
    for args in (["--help"], ["ls", "--help"], ["validate", "--help"], ["data", "--help"], ["data", "fetch", "--help"],
                 ["data", "path", "--help"], ["data", "verify", "--help"], ["run", "--help"], ["score", "--help"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0 and "Usage:" in result.output, args


def test_ls_json():
    listing = json.loads(CliRunner().invoke(main, ["ls", "--json"]).output)
    assert [b["id"] for b in listing["benchmarks"]] == ["dpg_bench", "geneval", "geneval_pp", "imagine_bench", "omnicontext"]
    assert "folder" in listing["models"] and "detections" in listing["judges"]


def test_validate_and_data_verify(data_dir):
    result = CliRunner().invoke(main, ["validate", "--offline", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "geneval: ok, 553 samples, 6 tags" in result.output
    assert "geneval_pp: ok, 280 samples, 7 tags" in result.output
    assert "imagine_bench: ok, 270 samples" in result.output
    verify = CliRunner().invoke(main, ["data", "verify", "--data-dir", str(data_dir), "geneval"])
    assert verify.exit_code == 0 and "geneval/prompts: ok" in verify.output


def test_validate_fails_loudly_on_a_tampered_file(tmp_path, data_dir):
    (tmp_path / "geneval_pp").mkdir()
    (tmp_path / "geneval_pp" / "Geneval++.jsonl").write_text("{}\n")
    result = CliRunner().invoke(main, ["validate", "--offline", "--data-dir", str(tmp_path), "geneval_pp"])
    assert result.exit_code == 1
    assert "geneval_pp: FAILED" in result.output and "sha256" in result.output


def test_score_end_to_end_resume_and_coverage_gate(tmp_path, data_dir):
    folder = tmp_path / "imgs"
    build_geneval_folder(folder, data_dir / "geneval" / "evaluation_metadata.jsonl", 30)
    args = ["score", "-b", "geneval", "-m", f"folder:{folder}", "-j", f"detections:{folder / 'dets.jsonl'}",
            "--data-dir", str(data_dir), "--offline", "--limit", "30", "--run-dir", str(tmp_path / "run"),
            "--bootstrap", "200"]
    first = _cli(*args)
    assert first.returncode == 0, first.stderr
    assert "120 images generated/found, 120 scored" in first.stdout
    assert "coverage 86.7% (104/120 images scored)" in first.stdout
    assert "missing_image=16" in first.stdout
    result = json.loads((tmp_path / "run" / "result.json").read_text())["result"]
    overall = result["metrics"]["overall"]
    assert overall["n"] == 104 and overall["ci_low"] <= overall["value"] <= overall["ci_high"]
    kept = _cli(*args, "--keep-failed", "--min-coverage", "0.9")
    assert "0 images generated/found, 0 scored" in kept.stdout
    assert kept.returncode == 3 and "below --min-coverage" in kept.stderr
    retried = _cli(*args, "--min-coverage", "0.9")  # missing images are looked for again
    assert "16 images generated/found, 16 scored" in retried.stdout
    assert retried.returncode == 3
    official = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    assert len(official) == 104


def test_images_added_later_are_found_on_resume(tmp_path, data_dir):
    folder = tmp_path / "imgs"
    build_geneval_folder(folder, data_dir / "geneval" / "evaluation_metadata.jsonl", 8)
    args = ["score", "-b", "geneval", "-m", f"folder:{folder}", "-j", f"detections:{folder / 'dets.jsonl'}",
            "--data-dir", str(data_dir), "--offline", "--limit", "8", "--run-dir", str(tmp_path / "run"),
            "--bootstrap", "0"]
    first = _cli(*args)
    assert "(28/32 images scored)" in first.stdout and "missing_image=4" in first.stdout
    from PIL import Image

    for path in [folder / "00006" / "samples" / "0000.png", folder / "00005" / "samples" / "0001.png"]:
        Image.new("RGB", (64, 64)).save(path)
    second = _cli(*args)
    # all 4 missing images are looked for again: 2 now exist (and, having no precomputed
    # detections, become judge errors), 2 are still missing
    assert "4 images generated/found, 4 scored" in second.stdout
    assert "judge_error=2, missing_image=2, ok=28" in second.stdout


def test_relative_paths_resume_from_another_directory(tmp_path, data_dir):
    folder = tmp_path / "imgs"
    build_geneval_folder(folder, data_dir / "geneval" / "evaluation_metadata.jsonl", 4)
    args = ["score", "-b", "geneval", "-m", "folder:imgs", "-j", "detections:imgs/dets.jsonl",
            "--data-dir", str(data_dir), "--offline", "--limit", "4", "--run-dir", "run", "--bootstrap", "0"]
    env = {"PYTHONPATH": str(REPO)}
    first = subprocess.run([sys.executable, "-m", "echo4o_eval", *args], capture_output=True, text=True,
                           cwd=tmp_path, env={**os.environ, **env})
    assert first.returncode == 0, first.stderr
    record = json.loads((tmp_path / "run" / "records-0.jsonl").read_text().splitlines()[0])
    assert Path(record["generation"]["image_path"]).is_absolute()
    assert record["generation"]["seed"] is None  # found, not generated: no seed is claimed


def test_secrets_never_accepted_on_the_command_line(tmp_path, data_dir):
    folder = tmp_path / "imgs"
    folder.mkdir()
    base = ["score", "-b", "geneval", "-m", f"folder:{folder}", "--data-dir", str(data_dir), "--offline",
            "-j", "detections:" + str(folder / "d.jsonl"), "--run-dir", str(tmp_path / "run")]
    for extra in (["--judge-api-key-env", "sk-proj-SECRETSECRET123"],
                  ["--judge-base-url", "https://user:pass@example.com/v1"],
                  ["--judge-option", "base_url=https://example.com/v1?key=abc"]):
        result = _cli(*base, *extra)
        assert result.returncode == 1, extra
        assert "SECRETSECRET" not in result.stderr and "pass@" not in result.stderr and "key=abc" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_changed_config_refused_then_new_run(tmp_path, data_dir):
    folder = tmp_path / "imgs"
    build_geneval_folder(folder, data_dir / "geneval" / "evaluation_metadata.jsonl", 5)
    base = ["score", "-b", "geneval", "-m", f"folder:{folder}", "-j", f"detections:{folder / 'dets.jsonl'}",
            "--data-dir", str(data_dir), "--offline", "--limit", "5", "--runs-root", str(tmp_path / "runs"),
            "--bootstrap", "0"]
    assert _cli(*base).returncode == 0
    changed = _cli(*base, "--mode", "parity")
    assert changed.returncode == 1 and "different configuration:" in changed.stderr
    assert "mode: 'default' -> 'parity'" in changed.stderr  # each changed setting, old and new
    fresh = _cli(*base, "--mode", "parity", "--new-run")
    assert fresh.returncode == 0 and "-2" in fresh.stdout.splitlines()[0]


def test_score_refuses_a_generating_model_and_secrets(tmp_path, data_dir):
    result = _cli("score", "-b", "geneval", "-m", "folder:/definitely/not/here", "--data-dir", str(data_dir),
                  "--offline", "-j", "detections:x.jsonl")
    assert result.returncode == 1 and "does not exist" in result.stderr
    folder = tmp_path / "imgs"
    folder.mkdir()
    secret = _cli("score", "-b", "geneval", "-m", f"folder:{folder}", "--data-dir", str(data_dir), "--offline",
                  "-j", "detections:" + str(folder / "d.jsonl"), "--judge-option", "api_key=sk-secret")
    assert secret.returncode == 1
