"""Write a checkpoint folder that the Bagel stand-in (tests/bagel_stand_in/, a TEST DOUBLE) loads.

It has the files a real Bagel/Echo-4o checkpoint has (llm_config.json, vit_config.json,
ae.safetensors, ema.safetensors, tokenizer.json) with tiny contents, so the adapter's real
loading path (configs, accelerate's init_empty_weights + load_checkpoint_and_dispatch in bf16)
runs on the CPU. Use::

    from tests.bagel_stand_in_checkpoint import STAND_IN_REPO, write_stand_in_checkpoint
    ckpt = write_stand_in_checkpoint(tmp_path / "ckpt")
    model = resolve_model(str(ckpt), {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
"""

from __future__ import annotations

import json
from pathlib import Path

STAND_IN_REPO = Path(__file__).resolve().parent / "bagel_stand_in"
LLM_HIDDEN = 8
VIT_HIDDEN = 4
VIT_LAYERS = 3


def write_stand_in_checkpoint(folder: str | Path, weight_value: float = 0.5) -> Path:
    """Create the checkpoint; ``weight_value`` fills the LLM projection (it tints the images)."""
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "llm_config.json").write_text(json.dumps({"hidden_size": LLM_HIDDEN}))
    (folder / "vit_config.json").write_text(json.dumps({
        "hidden_size": VIT_HIDDEN, "num_hidden_layers": VIT_LAYERS,
        "layers_in_checkpoint": VIT_LAYERS, "rope": True}))
    (folder / "tokenizer.json").write_text("{}")
    save_file({"decoder_bias": torch.zeros(3)}, str(folder / "ae.safetensors"))
    save_file({
        "language_model.proj.weight": torch.full((LLM_HIDDEN, LLM_HIDDEN), weight_value),
        "language_model.proj.bias": torch.zeros(LLM_HIDDEN),
        "vit_model.vision_model.embeddings.proj.weight": torch.zeros(VIT_HIDDEN, VIT_HIDDEN),
        "vit_model.vision_model.embeddings.proj.bias": torch.zeros(VIT_HIDDEN),
    }, str(folder / "ema.safetensors"))
    return folder
