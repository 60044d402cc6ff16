"""Round trip: a small synthetic set made offline by `synth all` (the fake OpenAI-compatible server
plays the image API and the VLM) is exported for Bagel, OmniGen2 and Hugging Face, and read back
by the training side. Every kept sample comes back with its prompts (the rewritten one first, the
original as an alternative), its image and its references in order; Bagel's registration, from
`synth export` and from `bagel-recipe`, names the same files the same way and resolves to every
row; and `echo4o-eval train` runs an epoch of real optimisation steps on the export (tiny SD3, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from echo4o_eval.cli import main
from fake_openai_server import FakeOpenAIServer
from synth_fakes import chat_responder, patterned_png, write_job

pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("datasets")
pytest.importorskip("imagehash")
yaml = pytest.importorskip("yaml")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """The work directory and export of a 4 + 4 + 4 sample job, and its kept samples by id."""
    from echo4o_eval.data_gen.final import final_samples
    from echo4o_eval.data_gen.records import RecordStore

    root = tmp_path_factory.mktemp("synth")
    with FakeOpenAIServer(responder=chat_responder, image_maker=patterned_png) as server:
        job = write_job(root, server.base_url, counts=(4, 4, 4), extra={"filter.benchmarks": []})
        result = CliRunner().invoke(main, ["synth", "all", str(job)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    store = RecordStore(root / "work")
    try:
        kept = {s["id"]: s for s in final_samples(store, include_original=True)}
    finally:
        store.close()
    # the fake VLM rewrites some prompts and the job plans 2-4 references: both cases are covered
    assert any(s["rewritten"] for s in kept.values()) and any(s["references"] for s in kept.values())
    assert any(not s["references"] for s in kept.values())
    return {"job": job, "export": root / "work" / "export", "kept": kept}


def _pixels(image):
    return image.convert("RGB").tobytes()


def _read_all(source, fmt="auto"):
    from echo4o_eval.training.config import load_train_config
    from echo4o_eval.training.data import TrainingData

    settings = load_train_config(None, [f"data.sources={json.dumps([str(source)])}", f"data.format={fmt}"]).data
    data = TrainingData.from_settings(settings)
    return data, [data.load(i) for i in range(len(data))]


def _assert_same_images(sample, expected):
    from PIL import Image

    assert _pixels(sample.target) == _pixels(Image.open(expected["image_path"])), sample.id
    assert len(sample.references) == len(expected["references"]), sample.id
    for got, path in zip(sample.references, expected["references"]):
        assert _pixels(got) == _pixels(Image.open(path)), f"{sample.id}: reference {path}"


def test_bagel_export_gives_the_trainer_every_sample_with_its_prompts_image_and_references(synth):
    kept = synth["kept"]
    data, samples = _read_all(synth["export"] / "bagel")
    assert sorted(s.id for s in samples) == sorted(kept)  # every kept sample, once, nothing else
    for index, sample in enumerate(samples):
        expected = kept[sample.id]
        if expected["task"] == "edit":  # Bagel's multi-reference rows carry the final instruction only
            assert sample.captions == (expected["prompt"],)
        else:
            assert sample.captions == tuple(expected["captions"])
            if expected["rewritten"]:
                assert sample.captions == (expected["prompt"], expected["original_prompt"])
        assert data.reference_count(index) == len(expected["references"])
        assert data.size(index) == sample.target.size
        _assert_same_images(sample, expected)


def test_omnigen2_and_hf_exports_give_the_same_samples(synth):
    kept = synth["kept"]
    _, omnigen2 = _read_all(synth["export"] / "omnigen2" / "data.jsonl")
    _, hf = _read_all(synth["export"] / "hf")
    for samples, name in ((omnigen2, "omnigen2"), (hf, "hf")):
        assert sorted(s.id for s in samples) == sorted(kept), name
        for sample in samples:
            expected = kept[sample.id]
            # OmniGen2 lines hold the final instruction; the HF rows also the original prompt
            wanted = (expected["prompt"],) if name == "omnigen2" else tuple(expected["captions"])
            assert sample.captions == wanted, (name, sample.id)
            _assert_same_images(sample, expected)


def _registered(lines: Path, config: Path) -> tuple[dict, dict]:
    """What Bagel sees: DATASET_INFO after appending the lines, and the dataset YAML's groups."""
    namespace = {"DATASET_INFO": {"t2i_pretrain": {"t2i": {}}, "unified_edit": {}, "vlm_sft": {}}}
    exec(lines.read_text(), namespace)  # what appending to data/dataset_info.py does
    return namespace["DATASET_INFO"], yaml.safe_load(config.read_text())


def _bagel_rows(info: dict, groups: dict) -> dict[str, list[dict]]:
    """Every row Bagel's loaders reach through the registration, per group, after checking the
    entry's file and sample counts and (unified_edit) its parquet_info against the files."""
    rows: dict[str, list[dict]] = {}
    for group, settings in groups.items():
        for name in settings["dataset_names"]:
            entry = info[group][name]
            files = sorted(Path(entry["data_dir"]).glob("*.parquet"))
            assert entry["num_files"] == len(files) and settings["num_used_data"][0] >= len(files)
            if group == "unified_edit":
                parquet_info = json.loads(Path(entry["parquet_info_path"]).read_text())
                assert sorted(parquet_info) == [str(f) for f in files]
                for file in files:
                    meta = pq.ParquetFile(file).metadata
                    assert parquet_info[str(file)] == {"num_row_groups": meta.num_row_groups, "num_rows": meta.num_rows}
            found = [row for file in files for row in pq.read_table(file).to_pylist()]
            assert len(found) == entry["num_total_samples"]
            rows.setdefault(group, []).extend(found)
    return rows


def test_bagel_registration_from_export_and_recipe_names_the_same_data_and_reaches_every_row(synth, tmp_path):
    from echo4o_eval.data_gen.bagel_registration import DATASET_NAMES

    kept, bagel = synth["kept"], synth["export"] / "bagel"
    from_export = _registered(bagel / "dataset_info.py.txt", bagel / "data_config.yaml")
    result = CliRunner().invoke(main, ["bagel-recipe", str(synth["export"]), "--out", str(tmp_path / "recipe"),
                                       "--gpus", "2", "--num-workers", "2"])
    assert result.exit_code == 0, result.output
    from_recipe = _registered(tmp_path / "recipe" / "dataset_info_echo4o.py", tmp_path / "recipe" / "echo4o_data.yaml")
    assert from_export[1] == from_recipe[1]  # same groups, names, transforms and num_used_data (2 GPUs x 2 workers)
    assert {g: s["dataset_names"] for g, s in from_recipe[1].items()} == {
        "t2i_pretrain": [DATASET_NAMES["t2i"]], "unified_edit": [DATASET_NAMES["multi_reference"]]}
    for group in ("t2i_pretrain", "unified_edit"):
        (name,) = from_recipe[1][group]["dataset_names"]
        export_entry, recipe_entry = dict(from_export[0][group][name]), dict(from_recipe[0][group][name])
        if group == "unified_edit":  # each writes its own parquet_info (the recipe's recomputed from the files)
            export_info = Path(export_entry.pop("parquet_info_path"))
            recipe_info = Path(recipe_entry.pop("parquet_info_path"))
            assert export_info.parent == bagel.resolve() / "parquet_info"
            assert recipe_info.parent == (tmp_path / "recipe" / "parquet_info").resolve()
            assert json.loads(export_info.read_text()) == json.loads(recipe_info.read_text())
        assert export_entry == recipe_entry
    for info, groups in (from_export, from_recipe):
        rows = _bagel_rows(info, groups)
        assert sorted(r["id"] for r in rows["t2i_pretrain"] + rows["unified_edit"]) == sorted(kept)
        for row in rows["t2i_pretrain"]:  # Bagel json-loads captions and picks one of its values
            expected = kept[row["id"]]
            assert list(json.loads(row["captions"]).values()) == expected["captions"]
            assert row["image"] == Path(expected["image_path"]).read_bytes()  # PNG as generated
        for row in rows["unified_edit"]:  # references first, target last; one instruction
            expected = kept[row["id"]]
            assert row["instruction_list"] == [[expected["prompt"]]]
            images = expected["references"] + [expected["image_path"]]
            assert row["image_list"] == [Path(p).read_bytes() for p in images]


@pytest.mark.slow
def test_train_runs_an_epoch_of_optimisation_steps_on_the_bagel_export(synth, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from echo4o_eval.training.monitor import read_log
    from tests.tiny_pipelines import save_tiny_sd3

    sd3 = save_tiny_sd3(tmp_path / "sd3")
    steps = len(synth["kept"])  # batch size 1: one epoch visits every sample, references included
    out = tmp_path / "out"
    arguments = ["train", "model.backend=sd3", f"model.pretrained={sd3}", "model.max_text_tokens=16",
                 f"data.sources=[{synth['export'] / 'bagel'}]", "data.resolution=64", "data.caption_dropout=0.0",
                 f"run.output_dir={out}", f"run.max_steps={steps}", "run.batch_size=1", "run.mixed_precision=no",
                 "run.report_to=none", "run.progress=false", "run.save_every=1000", "run.save_final=false",
                 "eval.at_end=false"]
    result = CliRunner().invoke(main, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"trained steps 1-{steps}" in result.output
    # one bucket per reference count (all images are 320 x 320): multi-reference batches were trained too
    buckets = len({len(s["references"]) for s in synth["kept"].values()})
    assert f"{steps} samples in {buckets} bucket(s)" in result.output and buckets > 1
    assert "0 sample(s) per epoch left over" in result.output
    log = read_log(out / "train_log.jsonl")
    assert [r["step"] for r in log] == list(range(1, steps + 1))
    assert all(r["loss"] == r["loss"] and 0 < r["loss"] < 100 and r["grad_norm"] > 0 for r in log)
