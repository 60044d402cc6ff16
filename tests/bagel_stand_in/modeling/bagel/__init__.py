"""TEST DOUBLE for Bagel's modeling.bagel: configs and tiny modules with Bagel's constructor API.

Like the real code, the model only works when the adapter prepared the configs the way Bagel's
notebook does (MoT layers, qk-norm, ViT without rope and without its last layer).
"""

import json

import torch

from modeling.bagel.qwen2_navit import packed_self_attention  # imports flash_attn, as Bagel's does


class _Config:
    def __init__(self, **values):
        self.__dict__.update(values)

    @classmethod
    def from_json_file(cls, path):
        with open(path) as handle:
            return cls(**json.load(handle))


class Qwen2Config(_Config):
    pass


class SiglipVisionConfig(_Config):
    pass


class BagelConfig(_Config):
    pass


class Qwen2ForCausalLM(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.layer_module != "Qwen2MoTDecoderLayer" or not config.qk_norm:
            raise ValueError("stand-in: LLM config not prepared as Bagel's notebook does")
        self.config = config
        self.proj = torch.nn.Linear(config.hidden_size, config.hidden_size)


class _Embeddings(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.patch_embedding = torch.nn.Conv2d(3, config.hidden_size, 2)

    def convert_conv2d_to_linear(self, config, meta=False):
        del self.patch_embedding
        self.proj = torch.nn.Linear(config.hidden_size, config.hidden_size)


class _VisionModel(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embeddings = _Embeddings(config)


class SiglipVisionModel(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.rope or config.num_hidden_layers != config.layers_in_checkpoint - 1:
            raise ValueError("stand-in: ViT config not prepared as Bagel's notebook does")
        self.vision_model = _VisionModel(config)


class Bagel(torch.nn.Module):
    def __init__(self, language_model, vit_model, config):
        super().__init__()
        self.language_model = language_model
        self.vit_model = vit_model
        self.config = config

    def attend(self, hidden):
        """Packed attention through flash_attn_varlen_func (whichever the import found)."""
        return packed_self_attention(hidden)
