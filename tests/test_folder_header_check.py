"""Folder model reads image headers only: a truncated file is found, then the judge that
decodes it records bad_image naming the file (whole `score` command, fake OpenAI server)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from fake_judge_replies import geneval_pp_reply
from echo4o_eval.models.folder import FolderModel, make_folder_model
from echo4o_eval.records.types import GenerationRequest, Status

REPO = Path(__file__).resolve().parents[1]


def _truncated_png(path: Path, size: int = 256) -> None:
    image = Image.new("RGB", (size, size))
    image.putpixel((3, 3), (200, 10, 10))
    image.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header survives, the pixel data does not


def _req(sample_id="1"):
    return GenerationRequest(sample_id, 0, "t", "p", 0, 0, "/unused.png")


def test_header_check_finds_a_truncated_file_and_decode_check_refuses_it(tmp_path):
    _truncated_png(tmp_path / "1.png")
    found = FolderModel(tmp_path).generate([_req()])[0]
    assert found.status is Status.OK and found.image_path == str(tmp_path / "1.png")
    full = make_folder_model(str(tmp_path), {"check": "decode"}).generate([_req()])[0]
    assert full.status is Status.BAD_IMAGE and str(tmp_path / "1.png") in full.error
    assert make_folder_model(str(tmp_path), {}).describe()["check"] == "header"


def test_header_check_still_refuses_files_that_are_not_images(tmp_path):
    (tmp_path / "1.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    got = FolderModel(tmp_path).generate([_req()])[0]
    assert got.status is Status.BAD_IMAGE and str(tmp_path / "1.png") in got.error


def test_a_truncated_png_ends_as_bad_image_naming_the_file_through_score(tmp_path, data_dir, fake_openai):
    server = fake_openai(responder=geneval_pp_reply)
    images = tmp_path / "imgs"
    images.mkdir()
    Image.new("RGB", (64, 64), (10, 120, 30)).save(images / "1.png")
    _truncated_png(images / "2.png")
    run = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "echo4o_eval", "score", "-b", "geneval_pp", "-m", f"folder:{images}",
         "-j", "openai:fake-judge", "--judge-base-url", server.base_url,
         "--judge-api-key-env", "ECHO4O_TEST_KEY", "--judge-option", f"cache_dir={tmp_path / 'cache'}",
         "--data-dir", str(data_dir), "--offline", "--limit", "2", "--bootstrap", "0",
         "--run-dir", str(run), "-q"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "OPENAI_API_KEY": ""})
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for path in run.glob("records-*.jsonl")
               for line in path.read_text().splitlines()]
    generations = {r["generation"]["sample_id"]: r["generation"] for r in records if r["type"] == "generation"}
    assert generations["2"]["status"] == "ok"  # found from its header
    scores = {r["score"]["sample_id"]: r for r in records if r["type"] == "score"}
    assert scores["1"]["score"]["status"] == "ok"
    bad = scores["2"]
    assert bad["score"]["status"] == "bad_image", bad
    assert any(j["status"] == "bad_image" and str(images / "2.png") in (j.get("error") or "")
               for j in bad["judgements"]), bad
    assert server.count() == 1  # only the readable image was sent
    result = json.loads((run / "result.json").read_text())
    assert result["result"]["status_counts"] == {"ok": 1, "bad_image": 1}
