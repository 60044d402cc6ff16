"""Image-API model adapter against the fake server: generate, multi-image edit, refusal, cache."""

from __future__ import annotations

import pytest
from PIL import Image

from echo4o_eval.catalog import MODELS
from echo4o_eval.records.protocols import ImageModel
from echo4o_eval.records.types import GenerationRequest, Status


def model_for(server, tmp_path, **options):
    opts = {"base_url": server.base_url, "api_key_env": "ECHO4O_IMG_KEY", "size": "1024x1024",
            "quality": "low", "cache_dir": str(tmp_path / "cache"), "max_retries": 2,
            "backoff_base": 0.01}
    opts.update(options)
    return MODELS.get("openai")("image-model", opts)


def request(tmp_path, sample_id, prompt, refs=(), index=0):
    return GenerationRequest(sample_id, 0, "t", prompt, index, 100 + index,
                             str(tmp_path / "out" / f"{sample_id}_{index}.png"), reference_images=refs)


@pytest.fixture
def references(tmp_path):
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        path = tmp_path / f"ref{i}.png"
        Image.new("RGB", (8, 8), colour).save(path)
        paths.append(str(path))
    return tuple(paths)


def test_generate_edit_refusal_and_cache(fake_openai, tmp_path, references):
    server = fake_openai(script=["500"])  # first call fails once and is retried
    model = model_for(server, tmp_path)
    assert isinstance(model, ImageModel)
    requests = [request(tmp_path, "a", "a red cube"), request(tmp_path, "a", "a red cube", index=1),
                request(tmp_path, "b", "combine them", refs=references),
                request(tmp_path, "c", "REFUSE this prompt")]
    gens = model.generate(requests)
    assert [g.status for g in gens] == [Status.OK, Status.OK, Status.OK, Status.REFUSED]
    assert "moderation_blocked" in gens[3].error
    for g in gens[:3]:
        with Image.open(g.image_path) as image:
            assert image.format == "PNG"
        assert g.params["seed_used"] is False and g.usage["input_tokens"] == 100
    edits = [r for r in server.requests if r["kind"] == "images.edit"]
    assert len(edits) == 1 and len(edits[0]["body"]["images"]) == 3
    assert edits[0]["body"]["prompt"] == "combine them" and edits[0]["body"]["quality"] == "low"
    generated = [r for r in server.requests if r["kind"] == "images.generate" and r["fault"] is None]
    assert {r["body"]["size"] for r in generated} == {"1024x1024"}
    calls = server.count()
    again = model_for(server, tmp_path).generate(requests[:3])  # served from the cache
    assert server.count() == calls and all(g.usage["cached"] for g in again)


def test_unknown_option_and_missing_reference(fake_openai, tmp_path):
    with pytest.raises(ValueError, match="unknown openai image model option .sise.; did you mean .size."):
        MODELS.get("openai")("m", {"sise": "1x1"})
    model = model_for(fake_openai(), tmp_path)
    [g] = model.generate([request(tmp_path, "x", "p", refs=(str(tmp_path / "nope.png"),))])
    assert g.status is Status.GENERATION_ERROR and "reference image" in g.error
