"""The paper's recipe for Bagel's own trainer, written from a data_gen export.

Bagel (github.com/ByteDance-Seed/Bagel) trains with ``train/pretrain_unified_navit.py``, which
reads a dataset YAML (groups such as ``t2i_pretrain`` and ``unified_edit`` with their
transforms, weights and ``num_used_data``) and looks every dataset name up in
``DATASET_INFO`` (``data/dataset_info.py``). :func:`write_bagel_recipe` writes into ``out``
(the first three through :class:`~echo4o_eval.data_gen.bagel_registration.BagelRegistration`,
the writer ``synth export`` uses too, so the names are the export's):

* ``echo4o_data.yaml``: the groups (text-to-image; multi-reference when the export has it);
* ``dataset_info_echo4o.py``: lines to append to Bagel's ``data/dataset_info.py`` (registers
  ``echo4o_synth_t2i`` / ``echo4o_synth_multi_reference``; recipes written before this shared
  writer used ``echo4o_t2i`` / ``echo4o_multi_reference``, and keep working as written);
* ``parquet_info/<kind>.json``: per file ``num_row_groups`` and ``num_rows`` (what Bagel's edit
  loader needs), recomputed from the files;
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

from dataclasses import dataclass, field
from pathlib import Path

from echo4o_eval.data_gen.bagel_registration import BagelDataError, BagelRegistration

__all__ = ["RecipeError", "BagelRecipe", "write_bagel_recipe", "vit_needed", "PAPER_SETTINGS"]

PAPER_SETTINGS = {"lr": "2e-5", "total_steps": "24000", "ema": "0.9999", "max_grad_norm": "1.0",
                  "lr_scheduler": "constant", "max_latent_size": "64"}


class RecipeError(BagelDataError):
    """An export the recipe cannot use; the message names the file and the problem."""


@dataclass
class BagelRecipe:
    files: dict[str, Path] = field(default_factory=dict)
    command: str = ""
    warnings: list[str] = field(default_factory=list)


def vit_needed(has_multi_reference: bool) -> bool:
    """Multi-reference samples feed their references through the ViT too: visual_und on."""
    return has_multi_reference


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
- **A multi-reference loader.** A multi-reference row is `image_list` = references then the
  target, with one instruction (`instruction_list` = `[[instruction]]`). Stock Bagel's
  `unified_edit` loader (`UnifiedEditIterableDataset`) reads `image_list` as an edit chain
  instead (image i -> image i+1 with `instruction_list[i]`): it would train reference 1 ->
  reference 2 and fail on the later pairs. Echo-4o's training code extends Bagel with a
  multi-reference dataset (all references as inputs, then the instruction, then the target);
  map `unified_edit` to such a loader in Bagel's `DATASET_REGISTRY`, or train on the t2i data only.
- **FSDP mesh.** Bagel shards with HYBRID_SHARD over `num_shard` GPUs (default 8). This
  command sets `--num_shard` to the GPUs per node; the world size must be a multiple of it.
- **EMA weights lack the ViT.** The EMA checkpoint Bagel saves has no ViT keys: before
  inference, fill them from the original checkpoint (later keys win: original first, then the
  trained `ema.safetensors`), as Echo-4o's `scripts/merge_safetensors.py` does.
- **max_latent_size 64** when fine-tuning the released checkpoint (else position embeddings do
  not match).
- **num_used_data** is the number of parquet files a group reads; it must be at least
  GPUs x workers or some workers get no data (files are then repeated within an epoch).
- **Dataset names.** The lines register `echo4o_synth_t2i` and `echo4o_synth_multi_reference`,
  the names `synth export`'s own `dataset_info.py.txt` uses. Recipes written by earlier versions
  registered `echo4o_t2i` / `echo4o_multi_reference`: lines already appended under those names
  keep working with the YAML written beside them. Appending the recipes of two exports
  registers both under the same names: the later lines win (write one export per recipe and
  rename the keys by hand to train on both).
- **Token limit.** Samples longer than `max_num_tokens_per_sample` are skipped silently by
  Bagel's packer; `synth export` counts them (shrink references to keep them).
"""


def write_bagel_recipe(export_dir: str | Path, out_dir: str | Path, *, model_path: str = "models/BAGEL-7B-MoT",
                       gpus: int = 8, nodes: int = 1, num_workers: int = 1,
                       results_dir: str = "results/echo4o") -> BagelRecipe:
    """Write the dataset YAML, the DATASET_INFO lines, parquet_info, the command and notes."""
    try:
        registration = BagelRegistration.from_export(export_dir)
    except BagelDataError as exc:
        raise RecipeError(str(exc)) from exc
    out = Path(out_dir).resolve()
    recipe = BagelRecipe()
    readers = gpus * nodes * num_workers
    written = registration.write(out, readers=readers, by="echo4o-eval bagel-recipe",
                                 dataset_info_name="dataset_info_echo4o.py", config_name="echo4o_data.yaml")
    for key, name in (("parquet_info multi_reference", "parquet_info"), ("parquet_info t2i", "parquet_info t2i"),
                      ("dataset yaml", "dataset yaml"), ("dataset_info lines", "dataset_info lines")):
        if key in written:  # "parquet_info": the one Bagel reads (unified_edit's parquet_info_path)
            recipe.files[name] = written[key]
    has_multi = "multi_reference" in registration.kinds
    recipe.command = _command(written["dataset yaml"], model_path, gpus, nodes, num_workers, results_dir,
                              vit_needed(has_multi))
    script = out / "train_echo4o.sh"
    script.write_text("#!/usr/bin/env bash\n# Run from the root of a Bagel checkout.\nset -e\n" + recipe.command + "\n")
    script.chmod(0o755)
    recipe.files["command"] = script
    (out / "NOTES.md").write_text(NOTES)
    recipe.files["notes"] = out / "NOTES.md"
    recipe.warnings = registration.reader_warnings(readers, "GPUs x nodes x workers")
    if has_multi:
        recipe.warnings.append("multi-reference data turns visual_und on: add CE-token data; and it needs a "
                               "multi-reference loader for unified_edit (stock Bagel's reads image_list as an "
                               "edit chain); see NOTES.md")
    return recipe
