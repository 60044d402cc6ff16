"""A billed image reply without a usable image is asked again, never replayed for ever: the
image-API model decodes each reply as it arrives (a bad one is re-asked in the same run, in a
new cache slot), and a ``--retry-failed`` run asks a failed image again in a new retry round,
while successful replies are still replayed without a call. Through the CLI, against the fake
OpenAI server, which counts the requests it received."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from PIL import Image

from echo4o_eval.cli import main
from echo4o_eval.records.types import Status
from echo4o_eval.rundir.store import load_run
from fake_openai_server import tiny_png

KEY_ENV = "ECHO4O_RETRY_ROUNDS_TEST_KEY"  # never set: the local server takes no key
KEY = ("1", 0)  # the one image of these runs: GenEval++ sample 1, image 0


def bad_images_first(bad: int):
    """An image_maker whose first ``bad`` replies hold bytes that are not an image (billed
    replies with status 200), and a tiny PNG after."""
    made = {"n": 0}

    def image_maker(kind, body):
        made["n"] += 1
        return b"not an image" if made["n"] <= bad else tiny_png()

    return image_maker


def generate(server, run_dir, data_dir, *options):
    """``echo4o-eval run --generate-only`` of one GenEval++ image with the openai image model
    (exit status 0 whatever the image's status); the reply cache is on (the default, under this
    test's own ECHO4O_CACHE_DIR). Returns the image's generation record."""
    args = ["run", "--benchmark", "geneval_pp", "--model", "openai:gpt-image-1",
            "--model-option", f"base_url={server.base_url}", "--model-option", f"api_key_env={KEY_ENV}",
            "--model-option", "max_retries=0", "--model-option", "backoff_base=0.01",
            *[arg for option in options for arg in ("--model-option", option)],
            "--data-dir", str(data_dir), "--offline", "--limit", "1", "--images-per-prompt", "1",
            "--generate-only", "--run-dir", str(run_dir), "-q"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return load_run(run_dir).generations[KEY]


def assert_ok(generation):
    assert generation.status is Status.OK, generation.error
    with Image.open(generation.image_path) as image:
        assert image.format == "PNG" and image.size == (8, 8)


def test_an_undecodable_image_is_asked_again_in_the_same_run(fake_openai, tmp_path, data_dir):
    server = fake_openai(image_maker=bad_images_first(1))
    generation = generate(server, tmp_path / "run", data_dir)
    assert_ok(generation)
    assert server.count("images.generate") == 2  # the bad reply, then the one re-ask
    assert generation.usage["api_calls"] == generation.usage["replies"] == 2  # both were billed
    assert generation.cost_usd > 0

    # a fresh run directory replays both replies (the bad one is decoded and passed over)
    again = generate(server, tmp_path / "fresh", data_dir)
    assert_ok(again)
    assert server.count("images.generate") == 2 and again.usage["api_calls"] == again.usage["replies"] == 0


@pytest.mark.parametrize("bad", ["", "b64:!!!", "empty", "no-data"])
def test_every_kind_of_unusable_reply_is_re_asked(fake_openai, tmp_path, data_dir, bad, monkeypatch):
    """No image data, bad base64, a zero-byte image, an empty data list: each is re-asked."""
    import fake_openai_server

    replies = {"n": 0}
    original = fake_openai_server._Handler._reply

    def reply(self, kind, body):
        data = original(self, kind, body)
        replies["n"] += 1
        if replies["n"] == 1:
            item = data["data"][0]
            if bad == "":
                item.pop("b64_json")  # neither b64_json nor url
            elif bad == "b64:!!!":
                item["b64_json"] = "!!!"
            elif bad == "empty":
                item["b64_json"] = ""
                item["url"] = ""
            else:
                data["data"] = []
        return data

    monkeypatch.setattr(fake_openai_server._Handler, "_reply", reply)
    server = fake_openai()
    assert_ok(generate(server, tmp_path / "run", data_dir))
    assert server.count("images.generate") == 2


def test_retry_failed_asks_a_failed_image_again_and_replays_what_succeeded(fake_openai, tmp_path, data_dir):
    server = fake_openai(image_maker=bad_images_first(3))  # every ask of the first run is bad
    run_dir = tmp_path / "run"
    failed = generate(server, run_dir, data_dir)
    assert failed.status is Status.GENERATION_ERROR
    assert "bad image in reply (3 asks)" in failed.error and "cache" not in failed.error
    assert server.count("images.generate") == 3 and failed.usage["api_calls"] == failed.usage["replies"] == 3

    retried = generate(server, run_dir, data_dir)  # --retry-failed is the default
    assert_ok(retried)
    assert server.count("images.generate") == 4  # asked again, not replayed from the cache
    assert retried.usage["api_calls"] == 1
    assert load_run(run_dir).earlier_generations() == [failed]

    # a plain re-run of the finished run makes no call
    assert_ok(generate(server, run_dir, data_dir))
    assert server.count("images.generate") == 4

    # a fresh run directory is round 0 again: it replays the failed first round (and says how
    # to ask again); its --retry-failed run replays the reply that succeeded: still no call
    fresh = generate(server, tmp_path / "fresh", data_dir)
    assert fresh.status is Status.GENERATION_ERROR and "replayed from the response cache" in fresh.error
    assert fresh.usage["api_calls"] == 0
    replayed = generate(server, tmp_path / "fresh", data_dir)
    assert_ok(replayed)
    assert replayed.usage["api_calls"] == 0 and server.count("images.generate") == 4


def test_each_retry_round_asks_in_its_own_slot(fake_openai, tmp_path, data_dir):
    """Without re-asks within a run, two failed runs and a third that succeeds: rounds 0, 1, 2."""
    server = fake_openai(image_maker=bad_images_first(2))
    run_dir = tmp_path / "run"
    for count in (1, 2):
        failed = generate(server, run_dir, data_dir, "parse_retries=0")
        assert failed.status is Status.GENERATION_ERROR and "(1 ask)" in failed.error
        assert server.count("images.generate") == count
    assert_ok(generate(server, run_dir, data_dir, "parse_retries=0"))
    assert server.count("images.generate") == 3
    assert len(load_run(run_dir).earlier_generations()) == 2


def test_a_png_reply_is_stored_byte_for_byte_and_an_unanswered_request_is_counted(fake_openai, tmp_path,
                                                                                   data_dir):
    """A PNG from the API is written as it came (decoded once to check it, never re-encoded);
    a request that timed out after reaching the server is in the image's usage as unanswered."""
    import io

    buffer = io.BytesIO()  # stored uncompressed: Pillow's own re-encoding would differ
    Image.new("RGB", (16, 16), (10, 200, 30)).save(buffer, format="PNG", compress_level=0)
    png = buffer.getvalue()
    server = fake_openai(image_maker=lambda kind, body: png, script=["slow"], slow_seconds=1.5)
    generation = generate(server, tmp_path / "run", data_dir, "timeout=0.5", "max_retries=1")
    assert generation.status is Status.OK, generation.error
    with open(generation.image_path, "rb") as stored:
        assert stored.read() == png
    assert server.count("images.generate") == 2
    assert generation.usage["api_calls"] == 2 and generation.usage["unanswered"] == 1
