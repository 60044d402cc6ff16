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
