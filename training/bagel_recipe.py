"""The paper's recipe for Bagel's own trainer, written from a data_gen export.

Bagel (github.com/ByteDance-Seed/Bagel) trains with ``train/pretrain_unified_navit.py``, which
reads a dataset YAML (groups such as ``t2i_pretrain`` and ``unified_edit`` with their
transforms, weights and ``num_used_data``) and looks every dataset name up in
``DATASET_INFO`` (``data/dataset_info.py``). :func:`write_bagel_recipe` writes into ``out``:

* ``echo4o_data.yaml``: the groups (text-to-image; multi-reference when the export has it);
* ``dataset_info_echo4o.py``: lines to append to Bagel's ``data/dataset_info.py`` (registers
  ``echo4o_t2i`` / ``echo4o_multi_reference``);
* ``parquet_info/multi_reference.json``: per file ``num_row_groups`` and ``num_rows`` (what
  Bagel's edit loader needs), recomputed from the files;
* ``train_echo4o.sh``: the torchrun command with the paper's settings (lr 2e-5, 24K steps,
  EMA, fine-tuning from the Hugging Face checkpoint);
* ``NOTES.md``: the known pitfalls.

``num_used_data`` is the number of parquet files a group reads (Bagel repeats files to reach
it); it is set to at least GPUs x workers so that every data-loader worker gets a file.

Example:
    >>> vit_needed(has_multi_reference=True), vit_needed(has_multi_reference=False)
    (True, False)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RecipeError", "BagelRecipe", "write_bagel_recipe", "vit_needed", "PAPER_SETTINGS"]

PAPER_SETTINGS = {"lr": "2e-5", "total_steps": "24000", "ema": "0.9999", "max_grad_norm": "1.0",
                  "lr_scheduler": "constant", "max_latent_size": "64"}
T2I_TRANSFORM = {"image_stride": 16, "max_image_size": 1024, "min_image_size": 512}
VIT_TRANSFORM = {"image_stride": 14, "max_image_size": 980, "min_image_size": 378}


class RecipeError(ValueError):
    """An export the recipe cannot use; the message names the file and the problem."""


@dataclass
class BagelRecipe:
    files: dict[str, Path] = field(default_factory=dict)
    command: str = ""
    warnings: list[str] = field(default_factory=list)


def vit_needed(has_multi_reference: bool) -> bool:
    """Multi-reference samples feed their references through the ViT too: visual_und on."""
    return has_multi_reference


def _parquet_files(folder: Path, columns: set[str]) -> dict[str, dict[str, int]]:
    """{absolute path: {num_row_groups, num_rows}} after checking each file's columns."""
    import pyarrow.parquet as pq

    info = {}
    for file in sorted(folder.glob("*.parquet")):
        meta = pq.ParquetFile(file)
        missing = columns - set(meta.schema_arrow.names)
        if missing:
            raise RecipeError(f"{file}: missing column(s) {', '.join(sorted(missing))}")
        info[str(file.resolve())] = {"num_row_groups": meta.num_row_groups, "num_rows": meta.metadata.num_rows}
    return info


def _check_first_rows(t2i: dict, multi: dict) -> None:
    import pyarrow.parquet as pq

    for path in list(t2i)[:1]:
        row = pq.ParquetFile(path).read_row_group(0, columns=["captions"]).to_pylist()[0]
        try:
            captions = json.loads(row["captions"])
        except (TypeError, json.JSONDecodeError) as exc:
            raise RecipeError(f"{path}: captions is not a JSON string ({exc})") from exc
        if not isinstance(captions, dict):
            raise RecipeError(f"{path}: captions must be a JSON mapping (Bagel iterates its values)")
    for path in list(multi)[:1]:
        row = pq.ParquetFile(path).read_row_group(0, columns=["image_list", "instruction_list"]).to_pylist()[0]
        if len(row["image_list"]) < 2 or not all(isinstance(x, list) for x in row["instruction_list"]):
            raise RecipeError(f"{path}: image_list needs references + target and instruction_list [[text, ...]]")


def _yaml_text(t2i_files: int, multi_files: int, readers: int) -> str:
    import yaml

    groups = {}
    if t2i_files:
        groups["t2i_pretrain"] = {"dataset_names": ["echo4o_t2i"], "image_transform_args": dict(T2I_TRANSFORM),
                                  "is_mandatory": True, "num_used_data": [max(t2i_files, readers)], "weight": 1}
    if multi_files:
        groups["unified_edit"] = {"dataset_names": ["echo4o_multi_reference"],
                                  "image_transform_args": dict(T2I_TRANSFORM),
                                  "vit_image_transform_args": dict(VIT_TRANSFORM), "is_mandatory": True,
                                  "num_used_data": [max(multi_files, readers)], "weight": 1}
    header = "# Echo-4o synthetic data for Bagel (written by echo4o-eval bagel-recipe).\n"
    if multi_files:
        header += ("# visual_und is on (references go through the ViT): batches also need CE tokens, so mix in\n"
                   "# Bagel's text/VLM example data, e.g. a vlm_sft group (see NOTES.md):\n"
                   "# vlm_sft:\n#   dataset_names: [llava_ov]\n#   image_transform_args: {image_stride: 14, "
                   "max_image_size: 980, min_image_size: 378}\n#   is_mandatory: true\n#   num_used_data: [1000]\n"
                   "#   weight: 0.2\n")
    return header + yaml.safe_dump(groups, sort_keys=False)


def _info_text(t2i_dir: Path | None, t2i: dict, multi_dir: Path | None, multi: dict, info_path: Path) -> str:
    lines = ["# Echo-4o synthetic data (written by echo4o-eval bagel-recipe).",
             "# Append these lines to the end of Bagel's data/dataset_info.py.",
             "# (t2i_pretrain gets no parquet_info_path: Bagel's T2IIterableDataset takes no parquet_info.)"]
    if t2i:
        entry = {"data_dir": str(t2i_dir), "num_files": len(t2i), "num_total_samples": sum(v["num_rows"] for v in t2i.values())}
        lines.append(f"DATASET_INFO.setdefault('t2i_pretrain', {{}})['echo4o_t2i'] = {entry!r}")
    if multi:
        entry = {"data_dir": str(multi_dir), "num_files": len(multi),
                 "num_total_samples": sum(v["num_rows"] for v in multi.values()), "parquet_info_path": str(info_path)}
        lines.append(f"DATASET_INFO.setdefault('unified_edit', {{}})['echo4o_multi_reference'] = {entry!r}")
    return "\n".join(lines) + "\n"


def _command(yaml_path: Path, model_path: str, gpus: int, nodes: int, workers: int, results_dir: str,
             visual_und: bool) -> str:
    arguments = [
        ("dataset_config_file", str(yaml_path)), ("model_path", model_path), ("layer_module", "Qwen2MoTDecoderLayer"),
        ("max_latent_size", PAPER_SETTINGS["max_latent_size"]), ("resume_from", model_path),
        ("finetune_from_hf", "True"), ("auto_resume", "True"), ("resume_model_only", "True"),
        ("finetune_from_ema", "True"), ("visual_gen", "True"), ("visual_und", str(visual_und)),
        ("freeze_vae", "True"), ("lr", PAPER_SETTINGS["lr"]), ("lr_scheduler", PAPER_SETTINGS["lr_scheduler"]),
        ("total_steps", PAPER_SETTINGS["total_steps"]), ("ema", PAPER_SETTINGS["ema"]),
        ("max_grad_norm", PAPER_SETTINGS["max_grad_norm"]), ("num_shard", str(gpus)),
        ("num_workers", str(workers)), ("expected_num_tokens", "10240"), ("max_num_tokens", "11520"),
        ("max_num_tokens_per_sample", "10240"), ("log_every", "10"), ("save_every", "2000"),
        ("results_dir", results_dir), ("checkpoint_dir", f"{results_dir}/checkpoints"),
    ]
    head = (f"torchrun --nnodes={nodes} --node_rank=${{NODE_RANK:-0}} --nproc_per_node={gpus} "
            "--master_addr=${MASTER_ADDR:-127.0.0.1} --master_port=${MASTER_PORT:-29500} \\\n"
            "  train/pretrain_unified_navit.py")
    return head + "".join(f" \\\n  --{k} {v}" for k, v in arguments)


NOTES = """# Fine-tuning Bagel on Echo-4o-style data: notes and pitfalls

Run the command from the root of a Bagel checkout after appending `dataset_info_echo4o.py` to
`data/dataset_info.py`. The settings are the paper's (lr 2e-5, 24K steps, EMA, fine-tuning from
the Hugging Face checkpoint with `finetune_from_hf`/`resume_model_only`/`finetune_from_ema`);
the EMA decay and warmup are Bagel's defaults (the paper does not give them).

- **visual_und and CE tokens.** Multi-reference samples need the ViT (`visual_und True`), and
  with it Bagel's loop expects text-loss (CE) tokens in a batch; synthetic t2i and
  multi-reference samples carry none, so the CE loss is empty (reported as "ce loss is None",
  Echo-4o issue #12). Mix in Bagel's text/VLM example data (the commented `vlm_sft` group in
  `echo4o_data.yaml`). Text-to-image only: set `--visual_und False` (this recipe does when the
  export has no multi-reference data).
- **FSDP mesh.** Bagel shards with HYBRID_SHARD over `num_shard` GPUs (default 8). This
  command sets `--num_shard` to the GPUs per node; the world size must be a multiple of it.
- **EMA weights lack the ViT.** The EMA checkpoint Bagel saves has no ViT keys: before
  inference, fill them from the original checkpoint (later keys win: original first, then the
  trained `ema.safetensors`), as Echo-4o's `scripts/merge_safetensors.py` does.
- **max_latent_size 64** when fine-tuning the released checkpoint (else position embeddings do
  not match).
- **num_used_data** is the number of parquet files a group reads; it must be at least
  GPUs x workers or some workers get no data (files are then repeated within an epoch).
- **Token limit.** Samples longer than `max_num_tokens_per_sample` are skipped silently by
  Bagel's packer; `synth export` counts them (shrink references to keep them).
"""


def _find(export_dir: Path) -> tuple[Path | None, Path | None]:
    root = export_dir / "bagel" if (export_dir / "bagel").is_dir() else export_dir
    t2i, multi = root / "t2i", root / "multi_reference"
    found = (t2i if any(t2i.glob("*.parquet")) else None, multi if any(multi.glob("*.parquet")) else None)
    if found == (None, None):
        raise RecipeError(f"{export_dir}: no t2i/ or multi_reference/ parquet files (a `synth export` folder, "
                          "or its bagel/ subfolder, expected)")
    return found


def write_bagel_recipe(export_dir: str | Path, out_dir: str | Path, *, model_path: str = "models/BAGEL-7B-MoT",
                       gpus: int = 8, nodes: int = 1, num_workers: int = 1,
                       results_dir: str = "results/echo4o") -> BagelRecipe:
    """Write the dataset YAML, the DATASET_INFO lines, parquet_info, the command and notes."""
    t2i_dir, multi_dir = _find(Path(export_dir))
    t2i = _parquet_files(t2i_dir, {"image", "captions"}) if t2i_dir else {}
    multi = _parquet_files(multi_dir, {"image_list", "instruction_list"}) if multi_dir else {}
    _check_first_rows(t2i, multi)
    out = Path(out_dir).resolve()
    (out / "parquet_info").mkdir(parents=True, exist_ok=True)
    recipe = BagelRecipe()
    readers = gpus * nodes * num_workers
    info_path = out / "parquet_info" / "multi_reference.json"
    if multi:
        info_path.write_text(json.dumps(multi, indent=1))
        recipe.files["parquet_info"] = info_path
    yaml_path = out / "echo4o_data.yaml"
    yaml_path.write_text(_yaml_text(len(t2i), len(multi), readers))
    recipe.files["dataset yaml"] = yaml_path
    info_file = out / "dataset_info_echo4o.py"
    info_file.write_text(_info_text(t2i_dir and t2i_dir.resolve(), t2i, multi_dir and multi_dir.resolve(), multi, info_path))
    recipe.files["dataset_info lines"] = info_file
    recipe.command = _command(yaml_path, model_path, gpus, nodes, num_workers, results_dir, vit_needed(bool(multi)))
    script = out / "train_echo4o.sh"
    script.write_text("#!/usr/bin/env bash\n# Run from the root of a Bagel checkout.\nset -e\n" + recipe.command + "\n")
    script.chmod(0o755)
    recipe.files["command"] = script
    (out / "NOTES.md").write_text(NOTES)
    recipe.files["notes"] = out / "NOTES.md"
    for name, files in (("t2i", t2i), ("multi_reference", multi)):
        groups = sum(v["num_row_groups"] for v in files.values())
        if files and len(files) < readers:
            recipe.warnings.append(f"{name}: {len(files)} parquet file(s) for {readers} data-loader workers "
                                   f"(GPUs x nodes x workers); Bagel repeats files to reach num_used_data={readers}")
        if files and groups < readers:
            recipe.warnings.append(f"{name}: {groups} row group(s) for {readers} workers; some read nothing")
    if multi:
        recipe.warnings.append("multi-reference data turns visual_und on: add CE-token data (see NOTES.md)")
    return recipe
