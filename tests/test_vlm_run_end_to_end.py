"""`echo4o-eval run --model folder:DIR --judge openai:MODEL --judge-base-url URL` end to end
against the fake OpenAI server, for the VLM-judged benchmarks."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from PIL import Image

from echo4o_eval.cli import main
from fake_judge_replies import any_benchmark_reply

SECRET = "sk-e2e-secret-value-123"


def make_images(folder, ids):
    folder.mkdir(parents=True, exist_ok=True)
    for n, sample_id in enumerate(ids):
        image = Image.new("RGB", (64, 64), (40, 120, 200))
        image.putpixel((n % 64, 0), (255, 255, 255))  # images differ, and so do their crops
        for corner in ((1, 1), (33, 1), (1, 33), (33, 33)):
            image.putpixel(corner, (corner[0] * 7 % 256, corner[1] * 5 % 256, 0))
        image.save(folder / f"{sample_id}.png")


def run_cli(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def common(tmp_path, server, data_dir, benchmark, images, extra=()):
    return ["run", "--benchmark", benchmark, "--model", f"folder:{images}",
            "--judge", "openai:fake-judge", "--judge-base-url", server.base_url,
            "--judge-api-key-env", "ECHO4O_E2E_KEY",
            "--judge-option", f"cache_dir={tmp_path / 'api-cache'}", "--data-dir", str(data_dir),
            "--offline", "--bootstrap", "0", "--runs-root", str(tmp_path / "runs"), "-q", *extra]


@pytest.mark.parametrize("benchmark,ids", [
    ("geneval_pp", [str(i) for i in range(1, 13)]),
    ("imagine_bench", [str(i) for i in range(1, 13)]),
])
def test_run_judges_with_the_fake_server_and_resumes_from_cache(
        fake_openai, tmp_path, data_dir, monkeypatch, benchmark, ids):
    monkeypatch.setenv("ECHO4O_E2E_KEY", SECRET)
    server = fake_openai(responder=any_benchmark_reply)
    make_images(tmp_path / "images", ids[:10])  # two images missing on purpose
    args = common(tmp_path, server, data_dir, benchmark, tmp_path / "images", ["--limit", "12"])
    output = run_cli(args)
    assert server.count("chat") == 10
    assert "missing_image" in output or "coverage" in output.lower()
    run_cli(args + ["--new-run"])  # a fresh run over the same response cache: no API call
    assert server.count("chat") == 10
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_dpg_run_with_four_crops(fake_openai, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("ECHO4O_E2E_KEY", SECRET)
    local = tmp_path / "data" / "dpg_bench"
    local.mkdir(parents=True)
    shutil.copytree(data_dir / "dpg_bench" / "prompts", local / "prompts")
    header = "item_id,text,keywords,proposition_id,dependency,category_broad,category_detailed,tuple,question_natural_language\n"
    rows = []
    for item in ("0", "1"):
        rows += [f"{item},t,k,1,0,entity,whole,entity - whole (cat),Is there a cat?",
                 f"{item},t,k,2,1,attribute,color,\"attribute - color (cat, red)\",Is the cat red?"]
    (local / "dpg_bench.csv").write_text(header + "\n".join(rows) + "\n")
    server = fake_openai(responder=any_benchmark_reply)
    make_images(tmp_path / "images", ["0"])
    output = run_cli(common(tmp_path, server, tmp_path / "data", "dpg_bench", tmp_path / "images",
                            ["--limit", "1", "--eval-option", "crops=4"]))
    assert server.count("chat") == 2 * 4  # 2 questions x 4 crops
    crops = [r["body"]["messages"][-1]["content"][1]["image_url"]["url"] for r in server.requests]
    assert len(set(crops)) == 4  # four different crops were sent
    assert "dpg_bench" in output


def test_omnicontext_run_sends_references_then_result(fake_openai, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("ECHO4O_E2E_KEY", SECRET)
    monkeypatch.setenv("ECHO4O_CACHE_DIR", str(tmp_path / "cache"))
    rows = {"key": ["k1", "k2"], "task_type": ["multi_object", "scene_character"],
            "instruction": ["Put the cup on the table.", "The man stands in the park."],
            "instruction_language": ["en", "en"],
            "input_images": [[Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 255, 0))],
                             [Image.new("RGB", (8, 8), (0, 0, 255))]]}
    features = datasets.Features({"key": datasets.Value("string"), "task_type": datasets.Value("string"),
                                  "instruction": datasets.Value("string"),
                                  "instruction_language": datasets.Value("string"),
                                  "input_images": datasets.Sequence(datasets.Image())})
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "data" / "omnicontext"))
    images = tmp_path / "images"
    for task, key in (("multi_object", "k1"), ("scene_character", "k2")):
        (images / task).mkdir(parents=True)
        Image.new("RGB", (16, 16), (9, 9, 9)).save(images / task / f"{key}.png")
    server = fake_openai(responder=any_benchmark_reply)
    output = run_cli(common(tmp_path, server, tmp_path / "data", "omnicontext", images))
    assert server.count("chat") == 4  # two criteria per image
    image_counts = sorted(sum(1 for part in r["body"]["messages"][-1]["content"] if part["type"] == "image_url")
                          for r in server.requests)
    assert image_counts == [2, 2, 3, 3]  # references first, then the result
    assert "omnicontext" in output
