"""Training data readers (data_gen export formats), the batch plan, and the Bagel recipe files."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pyarrow")

from echo4o_eval.training.batches import BatchPlan  # noqa: E402
from echo4o_eval.training.config import load_train_config  # noqa: E402
from echo4o_eval.training.data import DataError, TrainingData, detect_format  # noqa: E402
from tests.train_fixtures import write_bagel_parquet, write_hf_folder, write_omnigen2_jsonl  # noqa: E402


def _data(sources, *overrides):
    return TrainingData.from_settings(load_train_config(None, [f"data.sources={json.dumps([str(s) for s in sources])}",
                                                                *overrides]).data)


def test_bagel_parquet_t2i_and_multi_reference(tmp_path):
    export = write_bagel_parquet(tmp_path / "export", count=5, multi_reference=2, sizes=[(64, 64), (96, 48)])
    data = _data([export])
    assert detect_format(str(export)) == "bagel" and len(data) == 7
    multi = [i for i in range(len(data)) if data.reference_count(i)]
    t2i = [i for i in range(len(data)) if not data.reference_count(i)]
    sample = data.load(t2i[1])
    assert sample.captions == ("pattern number 1", "a striped picture 1") and sample.references == []
    assert data.size(t2i[1]) == (96, 48)
    assert len(multi) == 2 and data.reference_count(multi[0]) == 2
    sample = data.load(multi[0])
    assert len(sample.references) == 2 and sample.captions[0].startswith("the stripe from image 1")


def test_omnigen2_jsonl_and_hf_folder(tmp_path):
    jsonl = write_omnigen2_jsonl(tmp_path / "omni", count=3, references=2)
    data = _data([jsonl])
    assert len(data) == 3 and data.reference_count(0) == 2 and data.load(2).captions == ("make pattern 2",)
    folder = write_hf_folder(tmp_path / "hf", count=4)
    data = _data([folder])
    assert detect_format(str(folder)) == "hf_folder" and data.load(3).captions == ("pattern 3",)


def test_data_gen_hf_export_columns_give_both_prompts(tmp_path):
    datasets = pytest.importorskip("datasets")
    from tests.train_fixtures import pattern_image

    features = datasets.Features({"prompt": datasets.Value("string"), "original_prompt": datasets.Value("string"),
                                  "image": datasets.Image(), "references": datasets.Sequence(datasets.Image())})
    datasets.Dataset.from_dict({"prompt": ["a red cube"], "original_prompt": ["a cube"], "image": [pattern_image(0)],
                                "references": [[pattern_image(1)]]}, features=features).save_to_disk(str(tmp_path / "hf"))
    sample = _data([tmp_path / "hf"]).load(0)
    assert sample.captions == ("a red cube", "a cube") and len(sample.references) == 1


def test_bad_inputs_name_the_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "x", "output_image": "missing.png"}\nnot json\n')
    with pytest.raises(DataError, match=r"bad.jsonl line 2: not JSON"):
        _data([bad])
    bad.write_text('{"instruction": "x", "output_image": "missing.png"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl line 1 output_image: cannot decode"):
        _data([bad]).load(0)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"picture": [b"x"]}), tmp_path / "odd.parquet")
    with pytest.raises(DataError, match=r"odd.parquet: columns \['picture'\] are neither"):
        _data([tmp_path / "odd.parquet"])
    with pytest.raises(DataError, match="no such file"):
        _data([tmp_path / "nowhere"])


def test_plan_is_deterministic_and_splits_a_global_batch_between_processes():
    keys = [(64, 64, 0)] * 10 + [(96, 48, 0)] * 6
    plan = BatchPlan(keys, global_batch=4, seed=3)
    assert plan.batches_per_epoch == 3 and plan.unused_per_epoch == 4
    epoch0 = [plan.batch(n) for n in range(3)]
    assert [BatchPlan(keys, 4, 3).batch(n) for n in range(3)] == epoch0
    assert {key for key, _ in epoch0} <= {(64, 64, 0), (96, 48, 0)}
    assert all(len(set(keys[i] for i in rows)) == 1 for _, rows in epoch0)  # one bucket per global batch
    assert [plan.batch(n) for n in range(3, 6)] != epoch0  # the next epoch is reshuffled
    with pytest.raises(ValueError, match="no bucket holds a full global batch"):
        BatchPlan([(64, 64, 0)] * 3, global_batch=4, seed=0)


def test_bagel_recipe_files_are_valid(tmp_path):
    import yaml

    from echo4o_eval.training.bagel_recipe import write_bagel_recipe

    export = write_bagel_parquet(tmp_path / "synth" / "bagel", count=6, multi_reference=3)
    recipe = write_bagel_recipe(tmp_path / "synth", tmp_path / "recipe", gpus=4, nodes=2, num_workers=2)
    groups = yaml.safe_load(recipe.files["dataset yaml"].read_text())
    assert set(groups) == {"t2i_pretrain", "unified_edit"}
    for group in groups.values():
        assert len(group["num_used_data"]) == len(group["dataset_names"])
        assert group["num_used_data"][0] >= 4 * 2 * 2  # every data-loader worker gets a file
        assert group["image_transform_args"]["image_stride"] == 16
    assert groups["unified_edit"]["vit_image_transform_args"]["image_stride"] == 14
    namespace = {"DATASET_INFO": {"t2i_pretrain": {}, "vlm_sft": {}}}
    exec(recipe.files["dataset_info lines"].read_text(), namespace)  # what appending to dataset_info.py does
    info = namespace["DATASET_INFO"]
    for group, values in groups.items():
        for name in values["dataset_names"]:
            entry = info[group][name]
            assert (tmp_path / "synth" / "bagel").resolve() in __import__("pathlib").Path(entry["data_dir"]).parents
            assert entry["num_files"] == 1
    assert "parquet_info_path" not in info["t2i_pretrain"]["echo4o_synth_t2i"]
    assert info["unified_edit"]["echo4o_synth_multi_reference"]["num_total_samples"] == 3
    assert info["unified_edit"]["echo4o_synth_multi_reference"]["parquet_info_path"] == str(recipe.files["parquet_info"])
    parquet_info = json.loads(recipe.files["parquet_info"].read_text())
    (path, counts), = parquet_info.items()
    assert path == str((export / "multi_reference" / "part-0.parquet").resolve())
    assert counts == {"num_row_groups": 1, "num_rows": 3}
    command = recipe.files["command"].read_text()
    for flag in ("--lr 2e-5", "--total_steps 24000", "--finetune_from_hf True", "--finetune_from_ema True",
                 "--ema 0.9999", "--visual_und True", "--num_shard 4", "--nnodes=2", "--nproc_per_node=4",
                 f"--dataset_config_file {recipe.files['dataset yaml']}"):
        assert flag in command
    notes = recipe.files["notes"].read_text()
    assert "visual_und" in notes and "num_shard" in notes and "lack the ViT" in notes
    t2i_only = write_bagel_parquet(tmp_path / "t2i_only", count=2)
    assert "--visual_und False" in write_bagel_recipe(t2i_only, tmp_path / "r2").command
