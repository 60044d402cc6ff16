"""Bad or hostile inputs through the CLI: missing extras named before torch, a user's folder as
--run-dir refused untouched, a decompression bomb costing one sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from geneval_folder import build_geneval_folder

REPO = Path(__file__).resolve().parents[1]
BLOCK_HEAVY = textwrap.dedent("""
    import importlib.abc, sys
    HEAVY = {"torch", "torchvision", "transformers", "open_clip", "diffusers", "accelerate", "timm",
             "mmdet", "mmcv", "mmengine"}
    asked = []
    class CoreOnly(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in HEAVY:
                asked.append(name)
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, CoreOnly())
""")


def _core_only_cli(*args, tmp_path):
    """Run the CLI in a process where torch & co. cannot be imported (a core-only install)."""
    code = BLOCK_HEAVY + textwrap.dedent(f"""
        from echo4o_eval.cli import main
        try:
            main({list(args)!r})
        except SystemExit as exit_:
            print("EXIT", exit_.code)
        print("IMPORTED", [n for n in asked if n.split(".")[0] == "torch" and n in sys.modules])
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)


@pytest.mark.parametrize("judge, extra", [
    (None, "detect"),                       # GenEval's default judge: mask2former-clip
    ("owlv2-clip", "detect"),
    ("local-vlm:/models/some-vlm", "vlm"),
])
def test_core_only_install_names_the_extra_before_importing_torch(judge, extra, tmp_path, data_dir):
    images = tmp_path / "imgs"
    build_geneval_folder(images, data_dir / "geneval" / "evaluation_metadata.jsonl", 2)
    args = ["score", "-b", "geneval", "-m", f"folder:{images}", "--data-dir", str(data_dir),
            "--offline", "--limit", "2", "--run-dir", str(tmp_path / "run")]
    if judge:
        args += ["-j", judge]
    out = _core_only_cli(*args, tmp_path=tmp_path)
    assert f'pip install "echo4o-eval[{extra}]"' in out.stderr, out.stderr + out.stdout
    assert "EXIT 0" not in out.stdout and "IMPORTED []" in out.stdout
    assert "No module named 'torch'" not in out.stderr
    assert not (tmp_path / "run").exists()


def test_mmdet_judge_message_mentions_mmcv(monkeypatch):
    from echo4o_eval import optional
    from echo4o_eval.optional import MissingDependencyError, check_judge_extras

    monkeypatch.setattr(optional, "missing_modules", lambda names: ["mmcv"])  # mmdet there, mmcv not
    with pytest.raises(MissingDependencyError) as error:
        check_judge_extras("mmdet-clip")
    message = str(error.value)
    assert "mmcv" in message and "benchmarks/geneval/README.md" in message
    assert "wheels/README.md" in message and 'pip install "echo4o-eval[detect,mmdet]"' in message


def test_detector_weights_error_suggests_hf_download():
    from echo4o_eval.judges.weights import missing_weights

    error = missing_weights("Mask2Former", "facebook/mask2former-swin-small-coco-instance",
                            "detector", "ECHO4O_DETECTOR", OSError("offline"))
    assert "`hf download facebook/mask2former-swin-small-coco-instance`" in str(error)
    assert "huggingface-cli" not in str(error)


# ---------------------------------------------------------------- --run-dir on a user's folder


def _score_args(tmp_path, data_dir, run_dir):
    images = tmp_path / "imgs"
    if not images.exists():
        build_geneval_folder(images, data_dir / "geneval" / "evaluation_metadata.jsonl", 2)
    return ["score", "-b", "geneval", "-m", f"folder:{images}", "-j", f"detections:{images / 'dets.jsonl'}",
            "--data-dir", str(data_dir), "--offline", "--limit", "2", "--run-dir", str(run_dir),
            "--bootstrap", "0"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "echo4o_eval", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)


def test_a_users_non_empty_folder_is_refused_as_run_dir_and_left_untouched(tmp_path, data_dir):
    mine = tmp_path / "my-project"
    mine.mkdir()
    (mine / "samples.jsonl").write_text("my own data\n")
    (mine / "notes.txt").write_text("keep me")
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    out = _cli(*_score_args(tmp_path, data_dir, mine))
    assert out.returncode != 0
    assert f"{mine} is not empty and is not an echo4o-eval run directory" in out.stderr, out.stderr
    assert "notes.txt, samples.jsonl" in out.stderr
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before


def test_empty_and_existing_run_directories_are_accepted(tmp_path, data_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    first = _cli(*_score_args(tmp_path, data_dir, empty))
    assert first.returncode == 0, first.stderr
    again = _cli(*_score_args(tmp_path, data_dir, empty))  # our own run dir: resumed
    assert again.returncode == 0, again.stderr


def test_samples_written_by_another_rank_of_the_same_run_are_not_foreign(tmp_path):
    from echo4o_eval.rundir.store import NotARunDirectory, RunStore
    from echo4o_eval.records.types import Sample

    samples = [Sample(id="1", index=0, prompt="a cat", tag="t")]
    run = tmp_path / "run"
    (run / "images").mkdir(parents=True)
    (run / "lock-1").write_text("")
    RunStore(run)._write_samples(samples)  # what rank 1 wrote before its manifest
    RunStore(run).initialise({"fingerprint": "f", "model": {"spec": "m"}, "benchmark": "b@1"}, samples)
    other = tmp_path / "other"
    (other / "images").mkdir(parents=True)
    RunStore(other)._write_samples([Sample(id="2", index=0, prompt="a dog", tag="t")])
    with pytest.raises(NotARunDirectory, match="holds samples.jsonl"):
        RunStore(other).initialise({"fingerprint": "f"}, samples)


# ---------------------------------------------------------------- decompression bombs


def test_a_decompression_bomb_costs_one_sample_and_the_report_still_renders(tmp_path, data_dir):
    from test_folder_model import bomb_png

    args = _score_args(tmp_path, data_dir, tmp_path / "run")
    bomb = tmp_path / "imgs" / "00000" / "samples" / "0000.png"
    bomb.write_bytes(bomb_png(30000, 30000))
    assert len(bomb.read_bytes()) < 100
    out = _cli(*args)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for path in (tmp_path / "run").glob("records-*.jsonl")
               for line in path.read_text().splitlines()]
    bad = [r for r in records if r["type"] == "generation" and r["generation"]["status"] == "bad_image"]
    assert [r["generation"]["image_path"] for r in bad] == [str(bomb)]
    assert str(bomb) in bad[0]["generation"]["error"] and "decompression bomb" in bad[0]["generation"]["error"]
    scored = [r for r in records if r["type"] == "score" and r["score"]["status"] == "ok"]
    assert scored  # the other images were scored
    report = _cli("report", str(tmp_path / "run"), "--output", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr


@pytest.mark.parametrize("side", [15000, 30000])  # Pillow's warning zone, and its error zone
def test_judges_read_bombs_as_bad_images(tmp_path, side):
    from test_folder_model import bomb_png

    from echo4o_eval.judges.images import ImageLoadError, load_rgb
    from echo4o_eval.records.types import Status

    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(side, side))
    with pytest.raises(ImageLoadError) as error:
        load_rgb(path)
    assert error.value.status is Status.BAD_IMAGE and str(path) in str(error.value)


def test_parity_prompt_offline_says_how_to_provide_it(tmp_path, monkeypatch):
    from echo4o_eval.prompts.official import OFFICIAL_PROMPTS, OfficialPromptError, load_official_prompt

    monkeypatch.delenv("ECHO4O_PROMPTS_DIR", raising=False)
    monkeypatch.delenv("ECHO4O_OFFICIAL_SCRIPTS_DIR", raising=False)
    with pytest.raises(OfficialPromptError) as error:
        load_official_prompt(sorted(OFFICIAL_PROMPTS)[0], cache_dir=tmp_path, download=False)
    message = str(error.value)
    assert "without --offline" in message and "ECHO4O_PROMPTS_DIR" in message


# ---------------------------------------------------------------- detections:FILE.jsonl


@pytest.mark.parametrize("content, problem", [
    (b'{"image": "a.png", "detections": []}\n{not json\n', ":2: not valid JSON"),
    (b'{"image": "a.png"}\n\n["a list"]\n', ":3: expected a JSON object"),
    (b'{"detections": []}\n', ":1: need a JSON object with 'image'"),
    (b'{"image": "caf\xe9.png"}\n', ": cannot read"),  # Latin-1, not UTF-8
])
def test_a_bad_detections_file_is_an_error_naming_file_and_line(tmp_path, content, problem):
    from echo4o_eval.judges.detections_file import DetectionsFileJudge
    from echo4o_eval.loading import BenchmarkFileError

    path = tmp_path / "dets.jsonl"
    path.write_bytes(content)
    with pytest.raises(BenchmarkFileError) as caught:
        DetectionsFileJudge(path)
    assert str(caught.value).startswith(f"{path}{problem}"), str(caught.value)
