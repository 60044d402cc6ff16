"""TEST DOUBLE for Bagel's modeling.autoencoder.load_ae: a one-parameter 'VAE'."""

import torch
from safetensors.torch import load_file


class TinyAutoEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.decoder_bias = torch.nn.Parameter(torch.zeros(3))


class AutoEncoderParams:
    downsample = 8
    z_channels = 4


def load_ae(local_path):
    model = TinyAutoEncoder()
    model.load_state_dict(load_file(local_path))
    return model, AutoEncoderParams()
