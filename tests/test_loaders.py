"""Loaders of all five benchmarks produce the official samples (ids, tags, metadata)."""

import pytest
from PIL import Image

from echo4o_eval.assets import Assets
from echo4o_eval.loading import BenchmarkFileError
from echo4o_eval.spec import get_benchmark, load_benchmark


def _load(name, data_dir, variant=None, cache_dir=None):
    spec = get_benchmark(name)
    return load_benchmark(spec).load_samples(Assets(spec, data_dir=data_dir, cache_dir=cache_dir, allow_download=False), variant)


def test_geneval_short_and_long(data_dir):
    short = _load("geneval", data_dir)
    long = _load("geneval", data_dir, "long")
    assert len(short) == len(long) == 553
    assert (short[0].id, short[-1].id, short[0].index) == ("00000", "00552", 0)
    assert short[0].prompt == "a photo of a bench" and long[0].prompt.startswith("A realistic wooden bench")
    assert [s.metadata["include"] for s in short] == [s.metadata["include"] for s in long]
    assert {s.tag for s in short} == {"single_object", "two_object", "counting", "colors", "position", "color_attr"}
    with pytest.raises(ValueError, match="variants default, long"):
        _load("geneval", data_dir, "short")


def test_geneval_pp_ids_are_one_based_lines(data_dir):
    samples = _load("geneval_pp", data_dir)
    assert len(samples) == 280 and samples[0].id == "1" and samples[279].id == "280"
    counts = {}
    for s in samples:
        counts[s.tag] = counts.get(s.tag, 0) + 1
    assert set(counts.values()) == {40} and len(counts) == 7


def test_imagine_bench_ids_from_file(data_dir):
    samples = _load("imagine_bench", data_dir)
    assert len(samples) == 270
    assert samples[0].id == "1" and samples[0].tag == "COLOR" and "note" in samples[0].metadata


def test_malformed_jsonl_names_file_and_line(tmp_path):
    folder = tmp_path / "geneval_pp"
    folder.mkdir()
    (folder / "Geneval++.jsonl").write_text('{"tag": "a", "include": [], "prompt": "x"}\n{oops\n')
    spec = get_benchmark("geneval_pp")
    from dataclasses import replace

    unpinned = replace(spec, assets=tuple(replace(a, sha256=None) for a in spec.assets))
    with pytest.raises(BenchmarkFileError, match=r"Geneval\+\+.jsonl:2: not valid JSON"):
        load_benchmark(unpinned).load_samples(Assets(unpinned, data_dir=tmp_path, allow_download=False))


DPG_CSV = """item_id,text,keywords,proposition_id,dependency,category_broad,category_detailed,tuple,question_natural_language
0,An expansive field,"cabbage",1,0,entity,whole,entity - whole (cabbage),Is there a cabbage?
0,An expansive field,"cabbage",2,1,other,count,"other - count (cabbage, ==8)",Are there eight cabbages?
1,Second,"x",1,0,entity,whole,entity - whole (x),Is there an x?
"""


def test_dpg_bench_prompts_and_questions(tmp_path, data_dir):
    (tmp_path / "dpg_bench").mkdir()
    (tmp_path / "dpg_bench" / "prompts").symlink_to(data_dir / "dpg_bench" / "prompts")
    (tmp_path / "dpg_bench" / "dpg_bench.csv").write_text(DPG_CSV)
    samples = _load("dpg_bench", tmp_path)
    assert len(samples) == 1065
    first = next(s for s in samples if s.id == "0")
    assert first.prompt.startswith("An expansive field")
    assert [q["proposition_id"] for q in first.metadata["questions"]] == [1, 2]
    assert first.metadata["questions"][1]["dependency"] == [1]
    assert first.metadata["questions"][1]["csv_row"] == 1
    assert next(s for s in samples if s.id == "1").metadata["questions"][0]["csv_row"] == 2


def test_dpg_bad_dependency_is_a_clear_error(tmp_path, data_dir):
    (tmp_path / "dpg_bench").mkdir()
    (tmp_path / "dpg_bench" / "prompts").symlink_to(data_dir / "dpg_bench" / "prompts")
    (tmp_path / "dpg_bench" / "dpg_bench.csv").write_text(DPG_CSV.replace(",2,1,other", ",2,one,other"))
    with pytest.raises(BenchmarkFileError, match="dpg_bench.csv: data row 2: bad dependency 'one'"):
        _load("dpg_bench", tmp_path)


@pytest.fixture(scope="module")
def omnicontext_dir(tmp_path_factory):
    datasets = pytest.importorskip("datasets")
    root = tmp_path_factory.mktemp("data")
    rows = {
        "key": ["k1", "k2", "k3"],
        "task_type": ["single_character", "multi_object", "scene_character"],
        "instruction": ["The woman reads.", "A cat beside the vase.", "He stands in the room."],
        "instruction_language": ["en", "en", "en"],
        "input_images": [[Image.new("RGB", (16, 16), "red")],
                         [Image.new("RGB", (16, 16), "blue"), Image.new("RGB", (8, 8), "green")],
                         [Image.new("RGB", (16, 16)), Image.new("RGB", (16, 16), "white")]],
    }
    features = datasets.Features({
        "key": datasets.Value("string"), "task_type": datasets.Value("string"),
        "instruction": datasets.Value("string"), "instruction_language": datasets.Value("string"),
        "input_images": datasets.Sequence(datasets.Image()),
    })
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(root / "omnicontext"))
    return root


def test_omnicontext_from_a_local_dataset(omnicontext_dir, tmp_path):
    samples = _load("omnicontext", omnicontext_dir, cache_dir=tmp_path)
    assert [s.id for s in samples] == ["k1", "k2", "k3"]
    assert samples[1].tag == "multi_object" and len(samples[1].reference_images) == 2
    assert Image.open(samples[1].reference_images[1]).size == (8, 8)
    assert samples[2].metadata["instruction_language"] == "en"
    again = _load("omnicontext", omnicontext_dir, cache_dir=tmp_path)  # cached inputs reused
    assert again[1].reference_images == samples[1].reference_images
