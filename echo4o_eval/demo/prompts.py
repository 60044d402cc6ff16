"""The demo's own prompts, written for it in the official files' formats.

The demo never reads the official prompt files: they may be absent offline, and a fixed set of
prompts keeps the demo's scores identical on every machine (its CI baseline depends on that).
These prompts are ours, laid out like GenEval's ``evaluation_metadata.jsonl`` and GenEval++'s
``Geneval++.jsonl`` (same keys and tags), so the real loaders, checklists and scoring rules
read them. :func:`demo_benchmark` returns the benchmark's spec with its prompt file pointed at
them and its version marked ``-demo``, so no run or report mistakes them for the official set.

Example:
    >>> spec = demo_benchmark("geneval_pp", Path("/tmp/d"))
    >>> spec.id, spec.version, spec.asset("prompts").sha256
    ('geneval_pp', '1.0-demo', None)
    >>> sorted({row["tag"] for row in GENEVAL_PP_PROMPTS}) == sorted(GENEVAL_PP_TAGS)
    True
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from echo4o_eval.spec import AssetSpec, BenchmarkSpec, get_benchmark

GENEVAL_PROMPTS = [
    {"tag": "single_object", "include": [{"class": "elephant", "count": 1}], "prompt": "a photo of an elephant"},
    {"tag": "single_object", "include": [{"class": "teddy bear", "count": 1}], "prompt": "a photo of a teddy bear"},
    {"tag": "two_object", "include": [{"class": "bottle", "count": 1}, {"class": "chair", "count": 1}],
     "prompt": "a photo of a bottle and a chair"},
    {"tag": "two_object", "include": [{"class": "book", "count": 1}, {"class": "toaster", "count": 1}],
     "prompt": "a photo of a book and a toaster"},
    {"tag": "counting", "include": [{"class": "banana", "count": 2}], "exclude": [{"class": "banana", "count": 3}],
     "prompt": "a photo of two bananas"},
    {"tag": "counting", "include": [{"class": "knife", "count": 3}], "exclude": [{"class": "knife", "count": 4}],
     "prompt": "a photo of three knives"},
    {"tag": "colors", "include": [{"class": "couch", "count": 1, "color": "green"}], "prompt": "a photo of a green couch"},
    {"tag": "colors", "include": [{"class": "vase", "count": 1, "color": "yellow"}], "prompt": "a photo of a yellow vase"},
    {"tag": "position", "include": [{"class": "couch", "count": 1},
                                    {"class": "spoon", "count": 1, "position": ["left of", 0]}],
     "prompt": "a photo of a spoon left of a couch"},
    {"tag": "position", "include": [{"class": "bottle", "count": 1},
                                    {"class": "knife", "count": 1, "position": ["below", 0]}],
     "prompt": "a photo of a knife below a bottle"},
    {"tag": "color_attr", "include": [{"class": "chair", "count": 1, "color": "red"},
                                      {"class": "spoon", "count": 1, "color": "blue"}],
     "prompt": "a photo of a red chair and a blue spoon"},
    {"tag": "color_attr", "include": [{"class": "cup", "count": 1, "color": "white"},
                                      {"class": "pizza", "count": 1, "color": "orange"}],
     "prompt": "a photo of a white cup and an orange pizza"},
]
"""12 prompts, two per GenEval tag, in ``evaluation_metadata.jsonl``'s format (some name objects the
tiny random detector happens to find, so that both passes and failures occur)."""

GENEVAL_PP_TAGS = ("color_attr", "counting", "color_count_attr", "color_spatial_attr",
                   "spatial_count_attr", "size_spatial_attr", "multi_object_count_attr")
GENEVAL_PP_PROMPTS = [
    {"tag": "color_attr", "include": [{"class": "train", "count": 1, "color": "blue"},
                                      {"class": "dog", "count": 1, "color": "brown"},
                                      {"class": "kite", "count": 1, "color": "yellow"}],
     "prompt": "A photo of a blue train, a brown dog, and a yellow kite"},
    {"tag": "counting", "include": [{"class": "banana", "count": 2}], "exclude": [{"class": "banana", "count": 3}],
     "prompt": "A photo of two bananas"},
    {"tag": "color_count_attr", "include": [{"class": "cup", "count": 2, "color": "red"},
                                            {"class": "bird", "count": 1, "color": "white"}],
     "prompt": "A photo of two red cups and one white bird"},
    {"tag": "color_spatial_attr", "include": [{"class": "car", "count": 1, "color": "black", "region": "left"},
                                              {"class": "bicycle", "count": 1, "color": "green", "region": "right"}],
     "prompt": "A photo of a black car on the left and a green bicycle on the right"},
    {"tag": "spatial_count_attr", "include": [{"class": "orange", "count": 2, "region": "left"},
                                              {"class": "bottle", "count": 1, "region": "right"}],
     "prompt": "A photo of two oranges on the left and one bottle on the right"},
    {"tag": "size_spatial_attr", "include": [{"class": "elephant", "count": 1, "size": "larger", "region": "left"},
                                             {"class": "cat", "count": 1, "size": "smaller", "region": "right"}],
     "prompt": "A photo of a larger elephant on the left and a smaller cat on the right"},
    {"tag": "multi_object_count_attr", "include": [{"class": "banana", "count": 2}, {"class": "chair", "count": 2},
                                                   {"class": "bottle", "count": 1}],
     "prompt": "A photo of two bananas, two chairs, and one bottle"},
]
"""7 prompts, one per GenEval++ tag, in ``Geneval++.jsonl``'s format."""

PROMPTS = {"geneval": ("geneval/demo_prompts.jsonl", GENEVAL_PROMPTS),
           "geneval_pp": ("geneval_pp/demo_prompts.jsonl", GENEVAL_PP_PROMPTS)}


def write_prompt_files(data_dir: Path) -> Path:
    """Write every demo prompt file under ``data_dir``; returns ``data_dir``."""
    for relative, rows in PROMPTS.values():
        path = Path(data_dir) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return Path(data_dir)


def demo_benchmark(benchmark_id: str, data_dir: Path) -> BenchmarkSpec:
    """``benchmark_id``'s spec reading the demo prompts from ``data_dir`` (no download, no pin):
    version ``<official>-demo``, display name marked "(demo prompts)"."""
    spec = get_benchmark(benchmark_id)
    relative, _ = PROMPTS[benchmark_id]
    prompts = AssetSpec(name="prompts", path=relative, license="Apache-2.0 (written for echo4o-eval's demo)",
                        note=f"written by `echo4o-eval demo` into {data_dir}")
    return dataclasses.replace(spec, version=f"{spec.version}-demo", display_name=f"{spec.display_name} (demo prompts)",
                               assets=(prompts,), variants={})
