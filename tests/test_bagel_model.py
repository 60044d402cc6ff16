"""The Bagel/Echo-4o adapter against a stand-in checkout (tests/bagel_stand_in/, a TEST DOUBLE)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")  # the Bagel adapter needs the gen extra

from echo4o_eval.models.bagel import TASK_DEFAULTS, BagelModel, make_bagel_model
from echo4o_eval.models.bagel_checkout import BagelSetupError
from echo4o_eval.records.protocols import ImageModel
from echo4o_eval.records.types import GenerationRequest, Status
from tests.bagel_stand_in_checkpoint import STAND_IN_REPO, write_stand_in_checkpoint

CHECKOUT_NAMES = ("data", "modeling", "inferencer")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_stand_in_checkpoint(tmp_path_factory.mktemp("bagel_ckpt"))


@pytest.fixture(scope="module")
def model(checkpoint):
    built = make_bagel_model(str(checkpoint), {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
    yield built
    built.close()


def request(tmp_path, index, seed=42, prompt="a photo of a bench", references=(), **params):
    return GenerationRequest(
        sample_id=str(index), sample_index=index, tag="t", prompt=prompt, image_index=0, seed=seed,
        output_path=str(tmp_path / str(index) / "0.png"),
        reference_images=tuple(str(r) for r in references), params=params,
    )


def last_call(model):
    return model.inferencer.calls[-1]


def test_no_gpu_is_one_clear_error_and_flash_attn_is_not_required(checkpoint, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "flash_attn" else real_find_spec(name, *a))
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    with pytest.raises(BagelSetupError) as error:
        BagelModel(str(checkpoint), {"bagel_repo": str(STAND_IN_REPO)})  # default device: GPU
    assert str(error.value) == ("Bagel/Echo-4o needs a CUDA GPU: no CUDA GPU is visible "
                                "(torch.cuda.is_available() is False)")


def _navit_module(built):
    return built.checkout._modules["modeling.bagel.qwen2_navit"]


def test_without_flash_attn_bagel_code_imports_the_pytorch_fallback(checkpoint, tmp_path, monkeypatch):
    from echo4o_eval.models import flash_attn_shim

    monkeypatch.delitem(sys.modules, "flash_attn", raising=False)
    monkeypatch.setattr(flash_attn_shim, "real_flash_attn_available", lambda: False)
    built = BagelModel(str(checkpoint), {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
    assert _navit_module(built).flash_attn_varlen_func is flash_attn_shim.flash_attn_varlen_func
    assert "flash_attn" not in sys.modules  # transformers & co. never see a fake flash-attn
    assert built.describe()["attention"] == "pytorch fallback for flash-attn"
    assert built.generate([request(tmp_path, 0)])[0].status is Status.OK
    assert last_call(built)["attention_ok"] is True


@pytest.fixture
def forget_flash_attn():
    """Drop whatever flash_attn a test imported (monkeypatch's undo would put a fake back)."""
    yield
    sys.modules.pop("flash_attn", None)


def test_with_flash_attn_installed_bagel_code_gets_the_real_one(checkpoint, tmp_path, monkeypatch, forget_flash_attn):
    site = tmp_path / "site"
    (site / "flash_attn").mkdir(parents=True)
    (site / "flash_attn" / "__init__.py").write_text(
        "def flash_attn_varlen_func(q, k, v, *args, **kwargs):\n    return v[: q.shape[0]]\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "flash_attn", raising=False)
    built = BagelModel(str(checkpoint), {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
    function = _navit_module(built).flash_attn_varlen_func
    assert function.__module__ == "flash_attn" and function.__code__.co_filename.startswith(str(site))
    assert built.describe()["attention"] == "flash-attn"
    assert built.generate([request(tmp_path, 0)])[0].status is Status.OK


def test_loading_builds_like_the_notebook_and_leaks_no_module_names(checkpoint):
    sentinel = types.ModuleType("data")  # a user's own top-level `data` module
    sys.modules["data"] = sentinel
    path_before = list(sys.path)
    try:
        built = BagelModel(str(checkpoint), {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
        assert sys.modules["data"] is sentinel
        assert not [n for n in sys.modules if n.split(".")[0] in ("modeling", "inferencer")]
        assert [n for n in sys.modules if n.split(".")[0] == "data"] == ["data"]
        assert sys.path == path_before
        weight = built.inferencer.model.language_model.proj.weight
        assert weight.dtype == torch.bfloat16 and float(weight.detach().float().mean()) == 0.5  # ema loaded
        assert built.inferencer.tokenizer.special_tokens_added
        assert built.inferencer.vae_transform.max_image_size == 1024
        assert built.inferencer.vit_transform.image_stride == 14
        assert isinstance(built, ImageModel) and built.batch_size == 1
    finally:
        del sys.modules["data"]


def test_text_to_image_defaults_follow_the_papers(model, tmp_path):
    generation = model.generate([request(tmp_path, 0, task="text_to_image", metadata={"tag": "x"})])[0]
    assert generation.status is Status.OK
    call = last_call(model)
    assert call["inputs"] == [("text", "a photo of a bench")]
    assert (call["cfg_text_scale"], call["cfg_img_scale"], call["cfg_interval"]) == (4.0, 1.0, [0.4, 1.0])
    assert (call["timestep_shift"], call["num_timesteps"], call["cfg_renorm_type"]) == (3.0, 50, "global")
    assert call["image_shapes"] == (1024, 1024) and call["think"] is False
    with Image.open(generation.image_path) as image:
        assert image.size == (1024, 1024) and image.format == "PNG"
    assert generation.params["task"] == "text_to_image"
    assert generation.params["cfg_interval"] == [0.4, 1.0]
    assert generation.params["output_size"] == [1024, 1024]
    assert "metadata" not in generation.params and "ignored_params" not in generation.params


def test_multi_reference_passes_images_then_text_with_its_defaults(model, tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.jpg"
    Image.new("RGB", (640, 480), "red").save(first)
    Image.new("RGB", (300, 500), "blue").save(second)
    generation = model.generate([request(tmp_path, 1, prompt="the two together",
                                         references=[first, second], task="multi_reference")])[0]
    assert generation.status is Status.OK, generation.error
    call = last_call(model)
    assert [kind for kind, _ in call["inputs"]] == ["image", "image", "text"]
    assert call["inputs"][2] == ("text", "the two together")
    assert (call["cfg_img_scale"], call["cfg_interval"], call["cfg_renorm_type"]) == (2.0, [0.0, 1.0], "text_channel")
    assert generation.params["output_size"] == list(call["inputs"][1][1])  # Bagel: last reference's size


def test_request_params_override_defaults_and_model_options_override_both(checkpoint, tmp_path):
    built = BagelModel(str(checkpoint), {"bagel_repo": str(STAND_IN_REPO), "device": "cpu",
                                         "cfg_text_scale": "6", "cfg_interval": "0.2,1.0"})
    generation = built.generate([request(tmp_path, 0, task="text_to_image", num_inference_steps=30,
                                         cfg_text_scale=5.0, width=512, height=256,
                                         negative_prompt="blurry")])[0]
    call = last_call(built)
    assert (call["num_timesteps"], call["cfg_text_scale"], call["cfg_interval"]) == (30, 6.0, [0.2, 1.0])
    assert call["image_shapes"] == (256, 512)
    assert generation.params["ignored_params"] == ["negative_prompt"]
    assert built.describe()["overrides"] == {"cfg_text_scale": 6.0, "cfg_interval": [0.2, 1.0]}


def test_seed_decides_the_image(model, tmp_path):
    a, b, c = model.generate([request(tmp_path / "x", 0, seed=42), request(tmp_path / "y", 0, seed=42),
                              request(tmp_path / "z", 0, seed=43)])
    pixel = lambda g: np.asarray(Image.open(g.image_path))[0, 0].tolist()  # noqa: E731
    assert pixel(a) == pixel(b) != pixel(c)


def test_failures_are_per_sample_statuses(model, tmp_path):
    results = model.generate([
        request(tmp_path, 0, prompt="FAIL please"),
        request(tmp_path, 1, references=[tmp_path / "missing.png"]),
        request(tmp_path, 2, task="sketch"),
        request(tmp_path, 3),
    ])
    assert [g.status for g in results] == [Status.GENERATION_ERROR] * 3 + [Status.OK]
    assert results[0].error == "RuntimeError: stand-in failure requested by the prompt"
    assert "missing.png" in results[1].error
    assert "bad generation params" in results[2].error
    assert not (tmp_path / "0" / "0.png").exists()


def test_think_text_is_recorded(checkpoint, tmp_path):
    built = BagelModel(str(checkpoint), {"bagel_repo": str(STAND_IN_REPO), "device": "cpu",
                                         "think": "true"})
    generation = built.generate([request(tmp_path, 0)])[0]
    assert generation.params["thinking"] == "stand-in plan" and last_call(built)["think"] is True


def test_setup_errors_are_clear(checkpoint, tmp_path, monkeypatch):
    monkeypatch.delenv("ECHO4O_BAGEL_REPO", raising=False)
    monkeypatch.setenv("ECHO4O_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BagelSetupError, match="not in the cache .* downloads are off .*bagel_repo=DIR"):
        BagelModel(str(checkpoint), {"device": "cpu"})
    with pytest.raises(BagelSetupError, match="not a Bagel code checkout: missing inferencer.py"):
        BagelModel(str(checkpoint), {"device": "cpu", "bagel_repo": str(tmp_path)})
    monkeypatch.setenv("ECHO4O_BAGEL_REPO", str(STAND_IN_REPO))
    with pytest.raises(BagelSetupError, match="missing llm_config.json"):
        BagelModel(str(tmp_path), {"device": "cpu"})
    with pytest.raises(ValueError, match="takes no setting guidance_rescale"):
        BagelModel(str(checkpoint), {"device": "cpu", "guidance_rescale": 0.7})


def test_describe_records_defaults_and_sources(model):
    description = model.describe()
    assert description["adapter"] == "bagel" and description["dtype"] == "bfloat16"
    assert description["task_defaults"] == TASK_DEFAULTS
    assert description["bagel_repo"] == str(STAND_IN_REPO)


def test_bare_checkpoint_path_resolves_to_bagel(checkpoint):
    from echo4o_eval.models.resolve import resolve_model

    built = resolve_model(str(checkpoint), {"bagel_repo": str(STAND_IN_REPO), "device": "cpu"})
    assert isinstance(built, BagelModel) and built.id == f"bagel:{checkpoint}"


def test_device_map_auto_is_refused_under_several_ranks(checkpoint, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(BagelSetupError, match="device_map=auto spreads one model"):
        BagelModel(str(checkpoint), {"bagel_repo": str(STAND_IN_REPO), "device_map": "auto"})
    with pytest.raises(ValueError, match="device_map must be 'single' or 'auto'"):
        BagelModel(str(checkpoint), {"bagel_repo": str(STAND_IN_REPO), "device_map": "balanced"})
