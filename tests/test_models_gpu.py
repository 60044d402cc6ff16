"""GPU checks of the generation adapters (opt-in: ``pytest -m gpu``; skipped without CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from echo4o_eval.records.types import GenerationRequest, Status
from tests.tiny_pipelines import TINY_GENERATION_PARAMS, save_tiny_sd3

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(scope="module")
def tiny_sd3_dir(tmp_path_factory):
    return save_tiny_sd3(tmp_path_factory.mktemp("tiny_sd3_gpu"))


def request(folder, index, seed):
    return GenerationRequest(sample_id=str(index), sample_index=index, tag="t", prompt="a cube",
                             image_index=0, seed=seed, output_path=str(folder / f"{index}.png"),
                             params={"task": "text_to_image"})


def test_diffusers_defaults_to_this_ranks_gpu_in_bfloat16(tiny_sd3_dir, tmp_path):
    from echo4o_eval.models.diffusers_model import DiffusersModel

    model = DiffusersModel(str(tiny_sd3_dir), {**TINY_GENERATION_PARAMS, "batch_size": 2})
    description = model.describe()
    assert description["device"] == "cuda:0" and description["dtype"] == "bfloat16"
    batched = model.generate([request(tmp_path / "b", 0, 11), request(tmp_path / "b", 1, 12)])
    alone = model.generate([request(tmp_path / "a", 1, 12)])
    assert [g.status for g in batched + alone] == [Status.OK] * 3
    a = np.asarray(Image.open(alone[0].image_path), dtype=np.int16)
    b = np.asarray(Image.open(batched[1].image_path), dtype=np.int16)
    assert np.abs(a - b).mean() < 3  # CPU generators: the same noise whatever the batch
    model.close()


def test_diffusers_cpu_offload(tiny_sd3_dir, tmp_path):
    from echo4o_eval.models.diffusers_model import DiffusersModel

    model = DiffusersModel(str(tiny_sd3_dir), {**TINY_GENERATION_PARAMS, "cpu_offload": "true"})
    assert model.describe()["cpu_offload"] is True
    assert model.generate([request(tmp_path, 0, 1)])[0].status is Status.OK
    model.close()


def test_bagel_on_a_gpu_does_not_require_flash_attn(tmp_path):
    from echo4o_eval.models.bagel import BagelModel
    from echo4o_eval.models.bagel_checkout import BagelSetupError
    from tests.bagel_stand_in_checkpoint import STAND_IN_REPO

    with pytest.raises(BagelSetupError) as error:  # not a checkpoint: fails after the runtime check
        BagelModel(str(tmp_path), {"bagel_repo": str(STAND_IN_REPO)})
    assert "flash" not in str(error.value) and "missing llm_config.json" in str(error.value)