"""Judge and image-API model options are typed: a typo is an error with a did-you-mean naming the
judge, a value of the wrong type is an error, and the spellings the CLI passes keep working.
Nothing here loads weights: options are read before anything else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from echo4o_eval.catalog import JUDGES, MODELS
from echo4o_eval.config import ConfigError
from echo4o_eval.judges.detector_options import (
    Mask2FormerOptions, MmdetOptions, Owlv2Options, parse_detector_options,
)


@pytest.mark.parametrize("prefix, argument, typo, meant", [
    ("openai", "gpt-4.1", "concurency", "concurrency"),
    ("local-vlm", "/models/vlm", "max_new_token", "max_new_tokens"),
    ("mask2former-clip", "", "bach_size", "batch_size"),
    ("owlv2-clip", "", "min_scor", "min_score"),
    ("mmdet-clip", "", "checkpont", "checkpoint"),
])
def test_a_typo_names_the_judge_and_the_option_meant(prefix, argument, typo, meant):
    with pytest.raises(ConfigError) as caught:
        JUDGES.get(prefix)(argument, {typo: "1"})
    message = str(caught.value)
    assert f"unknown {prefix} judge option {typo!r}; did you mean {meant!r}?" in message
    assert re.search(rf"\(known: .*\b{meant}\b", message)


def test_the_detections_judge_refuses_any_option(tmp_path):
    with pytest.raises(ValueError, match="the detections judge takes no options"):
        JUDGES.get("detections")(str(tmp_path / "d.jsonl"), {"min_score": 0})


@pytest.mark.parametrize("options, message", [
    ({"batch_size": "eight"}, "batch_size: expected an integer, got 'eight'"),
    ({"min_score": "high"}, "min_score: expected a number, got 'high'"),
    ({"crop": "sometimes"}, "crop: expected true or false, got 'sometimes'"),
    ({"prefetch": 2}, "prefetch: expected true or false, got 2"),
    ({"background": " "}, "background must be a colour"),
])
def test_detector_option_of_the_wrong_type_is_an_error(options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_detector_options(options, "mask2former")


def test_detector_options_keep_cli_spellings_and_backend_defaults():
    opts = parse_detector_options({"batch_size": "4", "crop": "0", "prefetch": "off", "workers": None,
                                   "device": 0, "detector_model": Path("/m"), "clip_batch_size": 16.0,
                                   "min_score": 0}, "mask2former")
    assert isinstance(opts, Mask2FormerOptions)
    assert (opts.batch_size, opts.crop, opts.prefetch, opts.workers) == (4, False, False, None)
    assert (opts.device, opts.detector_model, opts.clip_batch_size, opts.min_score) == ("0", "/m", 16, 0.0)
    assert (opts.max_per_image, opts.input_size, opts.background) == (100, None, "#999")
    owl = parse_detector_options({}, "owlv2")
    assert isinstance(owl, Owlv2Options) and owl.min_score == 0.1 and owl.color_min_score == 0.3
    mmdet = parse_detector_options({"checkpoint": "random", "crop": "yes"}, "mmdet")
    assert isinstance(mmdet, MmdetOptions) and mmdet.checkpoint == "random" and mmdet.crop is True
    with pytest.raises(ConfigError, match="unknown owlv2-clip judge option 'max_per_image'"):
        parse_detector_options({"max_per_image": 5}, "owlv2")  # a mask2former-only option


def test_image_api_model_options_are_typed():
    make = MODELS.get("openai")
    with pytest.raises(ConfigError, match="unknown openai image model option 'sise'; did you mean 'size'"):
        make("gpt-image-1", {"sise": "1024x1024"})
    with pytest.raises(ConfigError, match="output_compression: expected an integer, got 'high'"):
        make("gpt-image-1", {"output_compression": "high"})
    model = make("gpt-image-1", {"size": "1024x1024", "output_compression": "80", "batch_size": "2",
                                 "cache": False, "concurrency": 8, "quality": None})
    assert model.request_params == {"size": "1024x1024", "output_compression": 80}
    assert model.batch_size == 2 and model.engine.config.cache_path is None
    assert model.engine.config.concurrency == 8


def _skip_without_extras(prefix):
    """A run with a heavy judge first checks that its extra is installed (core-only: skip)."""
    from echo4o_eval.optional import MissingDependencyError, check_judge_extras

    try:
        check_judge_extras(prefix)
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("prefix, typo", [("mask2former-clip", "bach_size"), ("owlv2-clip", "min_scor"),
                                          ("mmdet-clip", "checkpont"), ("local-vlm", "max_new_token")])
def test_a_judge_loaded_later_has_its_options_read_when_it_is_named(prefix, typo):
    from echo4o_eval.deferred import deferred_judge

    _skip_without_extras(prefix)
    with pytest.raises(ConfigError, match=f"unknown {prefix} judge option {typo!r}; did you mean"):
        deferred_judge(prefix, {typo: 1})
    assert deferred_judge(prefix, {"device": "cpu"}).loaded is False


def test_cli_refuses_a_misspelt_detector_option_before_the_run_starts(tmp_path, data_dir):
    from click.testing import CliRunner
    from PIL import Image

    from echo4o_eval.cli import main
    from tests.verbosity_guard import restored_verbosity

    _skip_without_extras("mask2former-clip")
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (32, 32), (200, 0, 0)).save(images / "1.png")
    with restored_verbosity():
        result = CliRunner().invoke(main, [
            "score", "-b", "geneval_pp", "-m", f"folder:{images}", "--data-dir", str(data_dir), "--offline",
            "--limit", "1", "--bootstrap", "0", "--run-dir", str(tmp_path / "run"),
            "-j", "mask2former-clip", "--judge-option", "bach_size=2"])
    assert result.exit_code == 1, result.output
    assert "unknown mask2former-clip judge option 'bach_size'; did you mean 'batch_size'?" in result.output
    assert not (tmp_path / "run").exists()
