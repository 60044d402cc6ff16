"""End to end: `echo4o-eval synth all` against the fake OpenAI-compatible server (chat, images.generate,
images.edit), through every export; planted benchmark prompts are removed and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from echo4o_eval.cli import main
from synth_fakes import chat_responder, patterned_png, write_job

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
datasets = pytest.importorskip("datasets")
pytest.importorskip("imagehash")

GENEVAL_PROMPT = "a photo of a bench"  # geneval/evaluation_metadata.jsonl
PLANTED = {"fantasy-000001": GENEVAL_PROMPT}


def _planting_responder(planted_pp: str):
    """The scripted replies, with two fantasy samples' prompts replaced by benchmark prompts."""
    planted = {**PLANTED, "fantasy-000003": planted_pp + " Seen at dusk."}

    def respond(body):
        system = body["messages"][0]["content"]
        text = body["messages"][-1]["content"]
        text = text if isinstance(text, str) else " ".join(p.get("text", "") for p in text if p["type"] == "text")
        if system.startswith("[synth:fantasy-writer]"):
            for sid, prompt in planted.items():
                if f"#{sid}#" in respond.order.get(text, ""):
                    return json.dumps({"prompt": prompt, "must_change": "x", "must_stay": "y"})
        if system.startswith("[synth:check]") and any(p in text for p in planted.values()):
            return json.dumps({"verdict": "aligned", "reason": "planted", "rewritten_prompt": None})
        return chat_responder(body)

    respond.order = {}
    return respond, planted


def _first_geneval_pp_prompt(data_dir: Path) -> str:
    line = (data_dir / "geneval_pp" / "Geneval++.jsonl").read_text(encoding="utf-8").splitlines()[0]
    return json.loads(line)["prompt"]


@pytest.fixture
def job(tmp_path, fake_openai, data_dir, monkeypatch):
    from echo4o_eval.data_gen.config import load_synth_config
    from echo4o_eval.data_gen.plan import _writer_brief, planned_items

    respond, planted = _planting_responder(_first_geneval_pp_prompt(data_dir))
    server = fake_openai(responder=respond, image_maker=patterned_png)
    path = write_job(tmp_path, server.base_url, counts=(10, 10, 10),
                     extra={"filter.data_dir": str(data_dir)})
    config = load_synth_config(path)
    for item in planned_items(config):  # the responder recognises the planted samples by their brief
        if item["subset"] == "fantasy":
            respond.order[_writer_brief(item)] = f"#{item['id']}#"
    return path, server, config, planted


def test_synth_all_end_to_end_through_every_export(job):
    path, server, config, planted = job
    result = CliRunner().invoke(main, ["synth", "all", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    work = Path(config.work_dir)
    assert server.count("images.generate") == 10 + 10 + 6  # fantasy, instruction, subjects
    assert server.count("images.edit") == 10
    edits = [r["body"] for r in server.requests if r["kind"] == "images.edit"]
    assert all(2 <= len(body["images"]) <= 4 for body in edits)

    summary = json.loads((work / "export" / "export_summary.json").read_text())
    kept = summary["samples"]
    total = sum(kept.values())
    assert set(kept) == {"fantasy", "instruction", "multi_reference"} and total >= 15

    # planted benchmark prompts were dropped as contamination and counted per benchmark
    filtered = json.loads((work / "filter_summary.json").read_text())
    assert filtered["by_reason"]["contamination"] == 2
    assert filtered["contamination_by_benchmark"] == {"geneval": 1, "geneval_pp": 1}
    assert filtered["benchmarks"]["geneval"]["prompts"] == 553

    # Bagel parquet: columns and types Bagel reads, parquet_info right
    t2i_files = sorted((work / "export" / "bagel" / "t2i").glob("*.parquet"))
    t2i = pa.concat_tables([pq.read_table(f) for f in t2i_files])
    assert t2i.schema.field("image").type == pa.binary() and t2i.schema.field("captions").type == pa.string()
    assert t2i.num_rows == kept["fantasy"] + kept["instruction"]
    captions = json.loads(t2i.column("captions")[0].as_py())
    assert captions["0"] and set(captions) <= {"0", "1"}
    multi = pq.read_table(work / "export" / "bagel" / "multi_reference" / "part-00000.parquet")
    assert multi.schema.field("image_list").type == pa.list_(pa.binary())
    assert multi.schema.field("instruction_list").type == pa.list_(pa.list_(pa.string()))
    row = multi.slice(0, 1).to_pylist()[0]
    assert 3 <= len(row["image_list"]) <= 5 and len(row["instruction_list"]) == 1
    info = json.loads((work / "export" / "bagel" / "parquet_info" / "t2i.json").read_text())
    assert sorted(info) == [str(f.resolve()) for f in t2i_files]
    for file, entry in info.items():
        meta = pq.ParquetFile(file).metadata
        assert (entry["num_rows"], entry["num_row_groups"]) == (meta.num_rows, meta.num_row_groups)
    assert sum(e["num_row_groups"] for e in info.values()) >= 4  # 2 GPUs x 2 workers
    assert len(t2i_files) >= 4  # Bagel's t2i loader shards by file
    assert "echo4o_synth_t2i" in (work / "export" / "bagel" / "dataset_info.py.txt").read_text()

    # OmniGen2 jsonl: every path exists
    lines = [json.loads(x) for x in (work / "export" / "omnigen2" / "data.jsonl").read_text().splitlines()]
    assert len(lines) == total
    for line in lines:
        assert Path(line["output_image"]).is_file() and all(Path(p).is_file() for p in line["input_images"])
    assert {line["task_type"] for line in lines} == {"t2i", "in_context_generation"}

    # HF folder loads
    dataset = datasets.load_from_disk(str(work / "export" / "hf"))
    assert len(dataset) == total and dataset[0]["image"].size == (320, 320)

    # cards name counts and contamination; status and report work
    card = (work / "export" / "bagel" / "README.md").read_text()
    assert "contamination" in card and '"geneval": 1' in card and "gpt-image-1" in card
    status = CliRunner().invoke(main, ["synth", "status", str(path)])
    assert "final: fantasy" in status.output, status.output
    report = CliRunner().invoke(main, ["synth", "report", str(path)])
    assert report.exit_code == 0, report.output
    html = (work / "report.html").read_text()
    assert "data:image/jpeg;base64," in html and "rewritten" in html and "contamination" in html
    assert 'src="file:' not in html and "http://" not in html.replace("http://www.w3.org", "")

    # the rerun is free: every stage resumes, no new request
    before = len(server.requests)
    again = CliRunner().invoke(main, ["synth", "all", str(path)], catch_exceptions=False)
    assert again.exit_code == 0 and len(server.requests) == before


def test_print_config_and_unknown_key(tmp_path):
    path = write_job(tmp_path, None)
    shown = CliRunner().invoke(main, ["synth", "plan", str(path), "plan.fantasy.count=7", "--print-config"])
    assert shown.exit_code == 0 and "count: 7" in shown.output
    bad = CliRunner().invoke(main, ["synth", "plan", str(path), "plan.fantasy.cuont=7"])
    assert bad.exit_code != 0 and "did you mean 'plan.fantasy.count'" in bad.output
