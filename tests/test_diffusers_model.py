"""The diffusers adapter on tiny random SD3 pipelines loaded through from_pretrained(path)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from echo4o_eval.records.protocols import ImageModel
from echo4o_eval.records.types import GenerationRequest, Status
from tests.tiny_pipelines import TINY_GENERATION_PARAMS, save_tiny_sd3


@pytest.fixture(scope="session")
def tiny_sd3_dir(tmp_path_factory):
    return save_tiny_sd3(tmp_path_factory.mktemp("tiny_sd3"))


@pytest.fixture(scope="session")
def tiny_sd3_image_to_image_dir(tmp_path_factory):
    return save_tiny_sd3(tmp_path_factory.mktemp("tiny_sd3_i2i"), image_to_image=True)


@pytest.fixture(scope="session")
def model(tiny_sd3_dir):
    from echo4o_eval.models.diffusers_model import make_diffusers_model

    built = make_diffusers_model(str(tiny_sd3_dir), {**TINY_GENERATION_PARAMS, "batch_size": 2,
                                                      "device": "cpu"})
    yield built
    built.close()


def request(tmp_path, index, seed, prompt="a red cube", references=(), **params):
    return GenerationRequest(
        sample_id=f"s{index}", sample_index=index, tag="t", prompt=prompt, image_index=0,
        seed=seed, output_path=str(tmp_path / f"{index}" / "0.png"),
        reference_images=tuple(str(r) for r in references), params=params,
    )


def pixels(path):
    return np.asarray(Image.open(path), dtype=np.int16)


def test_batched_generation_writes_one_png_per_request(model, tmp_path):
    assert isinstance(model, ImageModel)
    requests = [request(tmp_path, i, seed=i, task="text_to_image") for i in range(3)]
    generations = model.generate(requests)
    assert [g.status for g in generations] == [Status.OK] * 3
    for req, gen in zip(requests, generations):
        assert gen.image_path == req.output_path and gen.sample_id == req.sample_id
        with Image.open(gen.image_path) as image:
            assert image.format == "PNG" and image.size == (64, 64)
        assert gen.params["num_inference_steps"] == 2 and gen.params["width"] == 64
        assert gen.params["pipeline"] == "StableDiffusion3Pipeline"
    assert [g.usage["batch_size"] for g in generations] == [2, 2, 1]
    assert not list(tmp_path.rglob("*.partial"))


def test_seed_alone_decides_the_image_not_the_batch(model, tmp_path):
    alone = model.generate([request(tmp_path / "a", 0, seed=7)])[0]
    batched = model.generate([request(tmp_path / "b", 1, seed=3), request(tmp_path / "b", 0, seed=7)])
    other = model.generate([request(tmp_path / "c", 0, seed=8)])[0]
    difference = np.abs(pixels(alone.image_path) - pixels(batched[1].image_path)).max()
    assert difference <= 2  # same seed: same image up to float rounding across batch shapes
    assert np.abs(pixels(alone.image_path) - pixels(other.image_path)).mean() > 5


def test_model_options_override_request_params(model, tmp_path):
    generation = model.generate([request(tmp_path, 0, seed=1, steps=50, width=1024,
                                         cfg_text_scale=4.0, metadata={"tag": "x"})])[0]
    assert generation.status is Status.OK
    assert generation.params["num_inference_steps"] == 2 and generation.params["width"] == 64
    assert generation.params["ignored_params"] == ["cfg_text_scale"]


def test_failing_batch_becomes_per_sample_errors_and_others_still_run(tiny_sd3_dir, tmp_path):
    from echo4o_eval.models.diffusers_model import DiffusersModel

    model = DiffusersModel(str(tiny_sd3_dir), {"num_inference_steps": 1, "device": "cpu",
                                               "batch_size": 4})
    requests = [
        request(tmp_path, 0, seed=0, width=64, height=64),
        request(tmp_path, 1, seed=1, width=60, height=60),  # not a multiple of 16: pipeline raises
        request(tmp_path, 2, seed=2, width=64, height=64),
        request(tmp_path, 3, seed=3, task="video"),  # not a task
    ]
    generations = model.generate(requests)
    assert [g.status for g in generations] == [Status.OK, Status.GENERATION_ERROR, Status.OK,
                                               Status.GENERATION_ERROR]
    assert "ValueError" in generations[1].error and generations[1].image_path is None
    assert "bad generation params" in generations[3].error and "video" in generations[3].error
    assert generations[0].usage["batch_size"] == 2  # requests 0 and 2 shared one call


def test_text_to_image_pipeline_refuses_reference_images(model, tmp_path):
    reference = tmp_path / "ref.png"
    Image.new("RGB", (64, 64), "red").save(reference)
    generation = model.generate([request(tmp_path, 0, seed=1, references=[reference],
                                         task="multi_reference")])[0]
    assert generation.status is Status.GENERATION_ERROR
    assert "StableDiffusion3Pipeline takes no input images" in generation.error


def test_image_conditioned_pipeline_gets_the_reference_image(tiny_sd3_image_to_image_dir, tmp_path):
    from echo4o_eval.models.diffusers_model import DiffusersModel

    model = DiffusersModel(str(tiny_sd3_image_to_image_dir),
                           {**TINY_GENERATION_PARAMS, "device": "cpu", "strength": "0.5",
                            "max_reference_images": "1"})
    assert model.image_argument == "image"
    black, white = tmp_path / "black.png", tmp_path / "white.png"
    Image.new("RGB", (64, 64), "black").save(black)
    Image.new("RGB", (64, 64), "white").save(white)
    from_black, from_white, two = model.generate([
        request(tmp_path, 0, seed=5, references=[black]),
        request(tmp_path, 1, seed=5, references=[white]),
        request(tmp_path, 2, seed=5, references=[black, white]),
    ])
    assert from_black.status is Status.OK and from_white.status is Status.OK
    # same seed and prompt: the difference comes from the input image
    assert np.abs(pixels(from_black.image_path) - pixels(from_white.image_path)).mean() > 5
    # SD3 img2img takes one image: two references fail for that sample only
    assert two.status is Status.GENERATION_ERROR
    assert two.error == "2 reference images, but max_reference_images is 1"
    assert from_black.params["reference_images"] == 1


def test_unknown_option_is_rejected_naming_it(tiny_sd3_dir):
    from echo4o_eval.models.diffusers_model import DiffusersModel

    with pytest.raises(ValueError, match="does not accept the option\\(s\\) cfg_img_scale"):
        DiffusersModel(str(tiny_sd3_dir), {"cfg_img_scale": 2.0, "device": "cpu"})


def test_folder_without_model_index_is_a_clear_error(tmp_path):
    from echo4o_eval.models.diffusers_model import DiffusersModel

    with pytest.raises(FileNotFoundError, match="has no model_index.json"):
        DiffusersModel(str(tmp_path), {"device": "cpu"})


def test_describe_records_settings(model):
    description = model.describe()
    assert description["adapter"] == "diffusers"
    assert description["pipeline"] == "StableDiffusion3Pipeline"
    assert description["dtype"] == "float32" and description["device"] == "cpu"
    assert description["batch_size"] == 2
    assert description["overrides"]["num_inference_steps"] == 2
