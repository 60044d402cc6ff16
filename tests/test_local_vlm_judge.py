"""The local transformers VLM judge on a tiny random Idefics3 model built offline."""

from __future__ import annotations

import pytest
from PIL import Image

from echo4o_eval.catalog import JUDGES
from echo4o_eval.records.types import JudgeRequest, Status


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    pytest.importorskip("transformers")
    from tiny_vlm import build_tiny_idefics3

    return build_tiny_idefics3(tmp_path_factory.mktemp("tiny_vlm"))


def test_local_vlm_judges_through_the_protocol(tiny_vlm, tmp_path):
    image = tmp_path / "img.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(image)
    judge = JUDGES.get("local-vlm")(str(tiny_vlm), {"device": "cpu", "dtype": "fp32", "max_new_tokens": "6",
                                                    "parse_retries": "1"})
    asked = []

    def never_parses(text):
        asked.append(text)
        raise ValueError("random weights never answer in JSON")

    requests = [JudgeRequest(key="free", images=(str(image),), text="Describe.", system="Be brief."),
                JudgeRequest(key="strict", images=(str(image), str(image)), text="Is it red?",
                             crop=(0, 0, 20, 15), parse=never_parses),
                JudgeRequest(key="missing", images=(str(tmp_path / "no.png"),), text="?")]
    free, strict, missing = judge.judge(requests)
    assert free.status is Status.OK and free.parsed == free.replies and len(free.replies) == 1
    assert free.usage["completion_tokens"] <= 6 and free.prompt_hash
    assert strict.status is Status.PARSE_ERROR and len(strict.replies) == 2 and asked == list(strict.replies)
    assert missing.status is Status.BAD_IMAGE
    assert judge.describe()["path"] == str(tiny_vlm)
    judge.close()


def test_local_vlm_options_are_typed_and_typos_are_refused():
    make = JUDGES.get("local-vlm")
    with pytest.raises(ValueError, match="unknown local-vlm judge option 'max_new_token'; did you mean 'max_new_tokens'"):
        make("/models/x", {"max_new_token": 64})
    with pytest.raises(ValueError, match="max_new_tokens: expected an integer, got 'many'"):
        make("/models/x", {"max_new_tokens": "many"})
    with pytest.raises(ValueError, match="dtype must be auto, bf16, fp16 or fp32, not 'fp8'"):
        make("/models/x", {"dtype": "fp8"})
    judge = make("/models/x", {"device": 0, "max_new_tokens": "64", "seed": None})  # CLI spellings
    assert judge.options["device"] == "0" and judge.user_options == {"device": "0", "max_new_tokens": 64}
    assert judge.options["seed"] == 0 and "image_max_side" not in judge.options
    assert make("/models/x", {}).user_options == {}
