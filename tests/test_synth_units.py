"""Pieces of the synth pipeline: deterministic plans, the record index, duplicate search,
contamination matching, the Bagel token estimate and the detector check of instruction specs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from echo4o_eval.cli import main
from echo4o_eval.data_gen.config import load_synth_config
from echo4o_eval.data_gen.contamination import ContaminationIndex
from echo4o_eval.data_gen.dedupe import all_pairs_duplicates, find_duplicates
from echo4o_eval.data_gen.plan import planned_items
from echo4o_eval.data_gen.records import RecordStore
from echo4o_eval.data_gen.specs import geneval_metadata, render_instruction
from synth_fakes import chat_responder, patterned_png, write_job


def test_same_config_plans_the_same_samples_and_counts_are_independent(tmp_path):
    base = [f"work_dir={tmp_path}", "plan.multi_reference.subjects=8", "plan.multi_reference.count=5"]
    one = planned_items(load_synth_config(None, base + ["plan.fantasy.count=5", "plan.instruction.count=5"]))
    two = planned_items(load_synth_config(None, base + ["plan.fantasy.count=5", "plan.instruction.count=5"]))
    assert one == two
    more = planned_items(load_synth_config(None, base + ["plan.fantasy.count=9", "plan.instruction.count=5"]))
    by_id = {item["id"]: item for item in more}
    assert all(by_id[item["id"]] == item for item in one)  # sample k does not depend on the counts
    other_seed = planned_items(load_synth_config(None, base + ["plan.seed=1", "plan.fantasy.count=5"]))
    assert [i["spec"] for i in other_seed if i["subset"] == "fantasy"] != [
        i["spec"] for i in one if i["subset"] == "fantasy"]
    multi = [i for i in one if i["subset"] == "multi_reference"]
    assert all(2 <= len(i["references"]) <= 4 for i in multi)
    assert all(f"image {len(i['references'])}" in i["prompt"] for i in multi)


def test_replanning_with_other_settings_is_refused(tmp_path):
    path = write_job(tmp_path, None, counts=(2, 2, 0))
    assert CliRunner().invoke(main, ["synth", "plan", str(path)]).exit_code == 0
    changed = CliRunner().invoke(main, ["synth", "plan", str(path), "plan.seed=3"])
    assert changed.exit_code == 1 and "planned with other settings" in changed.output


def test_record_index_reads_only_appended_lines_and_skips_a_torn_tail(tmp_path):
    store = RecordStore(tmp_path)
    with store.writer("generate") as write:
        write({"id": "a", "status": "generation_error"})
    assert store.get("generate", "a")["status"] == "generation_error"
    with open(store.path("generate"), "a") as handle:
        handle.write('{"id": "a", "status": "ok"}\n{"id": "b", "sta')  # killed mid-line
    assert store.get("generate", "a")["status"] == "ok" and store.count("generate") == 1
    with open(store.path("generate"), "a") as handle:
        handle.write('tus": "ok"}\n')
    assert store.ids("generate", ("ok",)) == {"a", "b"}
    assert RecordStore(tmp_path).count("generate") == 2  # a new process reuses the index


def test_multi_index_duplicates_match_the_all_pairs_baseline():
    rng = random.Random(0)
    hashes = [rng.getrandbits(64) for _ in range(3000)]
    for _ in range(300):  # near copies with 0-6 flipped bits
        value = rng.choice(hashes)
        for bit in rng.sample(range(64), rng.randint(0, 6)):
            value ^= 1 << bit
        hashes.insert(rng.randrange(len(hashes)), value)
    for distance in (0, 3, 6):
        assert find_duplicates(hashes, distance) == all_pairs_duplicates(hashes, distance)
    assert len(find_duplicates(hashes, 6)) >= 250


def test_contamination_against_the_real_benchmark_prompts(data_dir):
    from echo4o_eval.data_gen.contamination import benchmark_prompts

    prompts, loaded = benchmark_prompts(["geneval", "imagine_bench", "not_a_benchmark"], str(data_dir), False)
    assert loaded["geneval"]["prompts"] == 553 and "error" in loaded["not_a_benchmark"]
    index = ContaminationIndex(prompts)
    imagine = next(text for name, _, text in prompts if name == "imagine_bench")
    assert index.match(imagine.upper())["kind"] == "exact"
    words = imagine.split()
    assert index.match(" ".join(words[:-1] + ["zebra"]))["benchmark"] == "imagine_bench"
    assert index.match("A teapot made completely of knitted wool.") is None


def test_rendered_instruction_and_rule_metadata_agree():
    spec = {"objects": [{"class": "dog", "count": 2, "colour": "brown"}, {"class": "cup", "count": 1}],
            "relations": [{"subject": 1, "relation": "above", "object": 0}], "details": ["Soft light."]}
    assert render_instruction(spec) == "Two brown dogs and one cup. The cup is above the dogs. Soft light."
    meta = geneval_metadata(spec, "p")
    assert meta["include"][1]["position"] == ["above", 0] and meta["unchecked"] == ["dense details"]


def _detections_for(spec: dict, right: bool) -> dict:
    """Detections that satisfy the spec's counts, colours and relations (or nothing)."""
    if not right:
        return {}
    places = {i: (1000, 1000) for i in range(len(spec["objects"]))}
    shift = {"left of": (-600, 0), "right of": (600, 0), "above": (0, -600), "below": (0, 600)}
    for relation in spec["relations"]:
        if relation["relation"] in shift:
            dx, dy = shift[relation["relation"]]
            places[relation["subject"]] = (1000 + dx, 1000 + dy)
    out: dict[str, list] = {}
    for i, item in enumerate(spec["objects"]):
        x, y = places[i]
        for k in range(item["count"]):
            out.setdefault(item["class"], []).append(
                {"box": [x + 45 * k, y, x + 45 * k + 40, y + 40], "score": 0.99,
                 "color": item.get("colour") or "white"})
    return out


def test_detector_check_records_agreement_with_the_vlm(tmp_path, fake_openai):
    server = fake_openai(responder=chat_responder, image_maker=patterned_png)
    detections = tmp_path / "detections.jsonl"
    job = write_job(tmp_path, server.base_url, counts=(0, 8, 0), subjects=0,
                    extra={"check.detector": f"detections:{detections}"})
    for command in ("plan", "generate"):
        assert CliRunner().invoke(main, ["synth", command, str(job)]).exit_code == 0
    store = RecordStore(tmp_path / "work")
    lines = []
    for number, gen in enumerate(store.iterate("generate")):
        spec = store.get("plan", gen["id"])["spec"]
        lines.append(json.dumps({"image": gen["image_path"], "detections": _detections_for(spec, number % 2 == 0)}))
    detections.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(main, ["synth", "check", str(job)])
    assert result.exit_code == 0, result.output
    checks = {r["id"]: r for r in store.iterate("check")}
    assert len(checks) == 8
    for number, gen in enumerate(store.iterate("generate")):
        record = checks[gen["id"]]
        assert record["detector"]["correct"] is (number % 2 == 0), record["detector"]
        assert record["agreement"] == ((record["verdict"] == "aligned") == (number % 2 == 0))
    status = json.loads(CliRunner().invoke(main, ["synth", "status", str(job), "--json"]).output)
    agreement = status["check"]["detector_agreement"]
    assert agreement["agree"] + agreement["disagree"] == 8


def test_bagel_token_warning_and_reference_shrinking(tmp_path):
    from PIL import Image

    from echo4o_eval.data_gen.config import BagelExport
    from echo4o_eval.data_gen.export_bagel import export_bagel

    paths = []
    for i in range(3):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (1024, 1024), (i * 60, 0, 0)).save(path)
        paths.append(str(path))
    sample = {"id": "m1", "task": "edit", "prompt": "The cat from image 1 next to the dog from image 2.",
              "image_path": paths[2], "references": paths[:2], "captions": []}
    settings = BagelExport(gpus=1, workers=1)
    out = export_bagel([sample], {"multi_reference": 1}, tmp_path / "a", settings)
    assert out["over_token_limit"] == 1 and "shrink_references_to" in out["warnings"][0]
    shrunk = export_bagel([sample], {"multi_reference": 1}, tmp_path / "b",
                          BagelExport(gpus=1, workers=1, shrink_references_to=384))
    assert shrunk["over_token_limit"] == 0
    import pyarrow.parquet as pq

    row = pq.read_table(Path(tmp_path / "b" / "bagel" / "multi_reference" / "part-00000.parquet")).to_pylist()[0]
    from io import BytesIO

    assert Image.open(BytesIO(row["image_list"][0])).size == (384, 384)
    assert Image.open(BytesIO(row["image_list"][-1])).size == (1024, 1024)


def test_bagel_export_rerun_with_fewer_samples_leaves_no_stale_parts(tmp_path):
    from PIL import Image

    from echo4o_eval.data_gen.config import BagelExport
    from echo4o_eval.data_gen.export_bagel import export_bagel
    from echo4o_eval.training.bagel_recipe import write_bagel_recipe

    def sample(i, references=()):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (64, 64), (i * 40, 0, 0)).save(path)
        return {"id": f"s{i}", "task": "edit" if references else "t2i", "prompt": f"prompt {i}",
                "image_path": str(path), "references": list(references), "captions": [f"prompt {i}"]}

    settings = BagelExport(gpus=3, workers=1, rows_per_file=1)  # 3 t2i files for 3 readers
    first = [sample(i) for i in range(3)] + [sample(3, [str(tmp_path / "0.png"), str(tmp_path / "1.png")])]
    export_bagel(first, {"fantasy": 3, "multi_reference": 1}, tmp_path / "out", settings)
    root = tmp_path / "out" / "bagel"
    assert len(list((root / "t2i").glob("*.parquet"))) == 3
    assert (root / "parquet_info" / "multi_reference.json").exists()
    out = export_bagel([sample(4)], {"fantasy": 1}, tmp_path / "out", settings)
    assert out["rows"] == {"t2i": 1, "multi_reference": 0}
    assert [f.name for f in (root / "t2i").glob("*.parquet")] == ["part-00000.parquet"]
    assert not list((root / "multi_reference").glob("*.parquet"))
    assert sorted(f.name for f in (root / "parquet_info").iterdir()) == ["t2i.json"]
    assert "unified_edit" not in (root / "dataset_info.py.txt").read_text()
    recipe = write_bagel_recipe(tmp_path / "out", tmp_path / "recipe", gpus=1)
    assert "--visual_und False" in recipe.command
    assert "no kept samples" in export_bagel([], {}, tmp_path / "empty", settings)["warnings"][-1]


def test_reference_pool_from_a_folder_plans_multi_reference_samples(tmp_path):
    from PIL import Image

    refs = tmp_path / "refs"
    refs.mkdir()
    for name in ("red_hat", "dog", "teapot", "scene_beach"):
        Image.new("RGB", (64, 64)).save(refs / f"{name}.png")
    items = planned_items(load_synth_config(None, [f"work_dir={tmp_path}/w", "plan.multi_reference.count=6",
                                                   f"plan.multi_reference.reference_source=folder:{refs}"]))
    assert len(items) == 6 and all(Path(r).is_file() for i in items for r in i["references"])
    assert any("beach of image" in i["prompt"] for i in items)


def test_reference_pool_from_a_saved_hf_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    images = [Image.new("RGB", (32, 32), (i * 40, 0, 0)) for i in range(4)]
    data = datasets.Dataset.from_dict({"image": images, "label": ["cat", "hat", "ball", "park"],
                                       "role": ["object", "object", "object", "scene"]},
                                      features=datasets.Features({"image": datasets.Image(),
                                                                  "label": datasets.Value("string"),
                                                                  "role": datasets.Value("string")}))
    data.save_to_disk(str(tmp_path / "pool"))
    items = planned_items(load_synth_config(None, [f"work_dir={tmp_path}/w", "plan.multi_reference.count=4",
                                                   f"plan.multi_reference.reference_source=hf:{tmp_path / 'pool'}"]))
    assert all(Path(r).is_file() and Path(r).parent == tmp_path / "w" / "references" / "hf"
               for i in items for r in i["references"])
    assert any("park of image" in i["prompt"] for i in items)


def test_synth_help_imports_no_heavy_modules():
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from echo4o_eval.cli import main; "
            "r = CliRunner().invoke(main, ['synth', 'generate', '--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('torch', 'pyarrow', 'datasets', 'imagehash', 'openai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_budget_is_split_over_ranks_after_what_was_spent():
    from echo4o_eval.data_gen.generate import Budget
    from echo4o_eval.distributed import RankInfo

    config = load_synth_config(None, ["generate.max_images=7", "generate.max_cost=1.0"])
    shares = [Budget(config, RankInfo(rank, 2, rank), spent_images=2, spent_cost=0.4, unit_cost=0.1)
              for rank in range(2)]
    assert [b.max_images for b in shares] == [3, 2]
    assert [b.max_cost for b in shares] == [pytest.approx(0.3)] * 2
    assert shares[0].allowance(10) == 3  # $0.30 left at $0.10 an image
    shares[1].images = 2
    assert shares[1].allowance(10) == 0 and "max_images reached (4 images paid)" in shares[1].stopped


def test_budget_never_counts_unpriced_paid_images_as_free():
    from echo4o_eval.data_gen.generate import Budget
    from echo4o_eval.distributed import RankInfo

    rank = RankInfo(0, 1, 0)
    no_price = load_synth_config(None, ["generate.max_cost=1.0"])
    budget = Budget(no_price, rank, spent_images=1, spent_cost=0.0, unit_cost=None, unpriced_images=1)
    assert budget.allowance(5) == 0 and "1 image(s) already paid for have no price" in budget.stopped
    priced = load_synth_config(None, ["generate.max_cost=1.0", "generate.price_per_image=0.25"])
    budget = Budget(priced, rank, spent_images=2, spent_cost=0.0, unit_cost=None, unpriced_images=2)
    assert budget.max_cost == pytest.approx(0.5) and budget.allowance(5) == 2  # charged at $0.25 each


def test_synth_evaluate_scores_the_kept_instruction_set_through_evaluate(tmp_path, fake_openai, data_dir):
    server = fake_openai(responder=chat_responder, image_maker=patterned_png)
    detections = tmp_path / "detections.jsonl"
    job = write_job(tmp_path, server.base_url, counts=(0, 8, 0), subjects=0,
                    extra={"filter.data_dir": str(data_dir)})
    for command in ("plan", "generate", "check", "filter"):
        assert CliRunner().invoke(main, ["synth", command, str(job)]).exit_code == 0
    store = RecordStore(tmp_path / "work")
    lines, expected = [], {}
    for number, gen in enumerate(store.iterate("generate")):
        spec = store.get("plan", gen["id"])["spec"]
        lines.append(json.dumps({"image": gen["image_path"], "detections": _detections_for(spec, number % 2 == 0)}))
        expected[gen["id"]] = number % 2 == 0
    detections.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(main, ["synth", "evaluate", str(job), "--judge", f"detections:{detections}"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.split("evaluate: ", 1)[1].splitlines()[0])
    kept = [r for r in store.iterate("filter") if r["status"] == "kept"]
    rewritten = {r["id"] for r in store.iterate("check") if r["status"] == "rewritten"}
    scored = [r["id"] for r in kept if r["id"] not in rewritten]
    assert summary["samples"] == len(scored) > 0 and summary["skipped_rewritten"] == len(
        [r for r in kept if r["id"] in rewritten])
    assert summary["metrics"]["image_accuracy"] == pytest.approx(
        sum(expected[i] for i in scored) / len(scored))
    assert summary["status_counts"] == {"ok": len(scored)}
    assert Path(summary["run_dir"], "manifest.json").is_file()
