"""The --model grammar: paths recognised by contents, explicit prefixes, plugins, clear errors."""

from __future__ import annotations

import importlib.metadata

import pytest

from echo4o_eval.models import resolve
from echo4o_eval.models.resolve import (
    ModelSpecError,
    describe_model_grammar,
    recognise_path,
    resolve_model,
    split_model_spec,
)
from echo4o_eval.registry import Registry


def make_plugin(argument, options):
    return ("plugin", argument, options)


@pytest.fixture
def fake_models(monkeypatch):
    """A MODELS registry whose factories record how they were called; one entry-point plugin."""
    registry = Registry("model", entry_point_group="echo4o_eval.models")
    for name in ("bagel", "diffusers", "folder", "openai"):
        registry.register(name)(lambda argument, options, name=name: (name, argument, options))
    plugin = importlib.metadata.EntryPoint(
        name="tiny-plugin", value="tests.test_model_resolve:make_plugin", group="echo4o_eval.models"
    )
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        importlib.metadata, "entry_points",
        lambda **kw: [plugin] if kw.get("group") == "echo4o_eval.models" else real(**kw),
    )
    monkeypatch.setattr(resolve, "MODELS", registry)
    return registry


def bagel_checkpoint(folder, tokenizer=("tokenizer.json",)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("llm_config.json", "vit_config.json", "ae.safetensors", "ema.safetensors", *tokenizer):
        (folder / name).write_text("{}")
    return folder


def test_bare_paths_are_recognised_by_contents(fake_models, tmp_path):
    ckpt = bagel_checkpoint(tmp_path / "echo4o", tokenizer=("vocab.json", "merges.txt"))
    pipe = tmp_path / "pipe"
    pipe.mkdir()
    (pipe / "model_index.json").write_text("{}")
    images = tmp_path / "images" / "00000" / "samples"
    images.mkdir(parents=True)
    (images / "0000.png").write_bytes(b"png")
    assert resolve_model(str(ckpt), {"bagel_repo": "/b"}) == ("bagel", str(ckpt), {"bagel_repo": "/b"})
    assert resolve_model(str(pipe), {}) == ("diffusers", str(pipe), {})
    assert resolve_model(str(tmp_path / "images"), {}) == ("folder", str(tmp_path / "images"), {})


def test_explicit_prefixes_and_plugins(fake_models):
    assert resolve_model("bagel:/ckpt", {}) == ("bagel", "/ckpt", {})
    assert resolve_model("diffusers:stabilityai/sd3", {"batch_size": 4}) == (
        "diffusers", "stabilityai/sd3", {"batch_size": 4})
    assert resolve_model("folder:/imgs", None) == ("folder", "/imgs", {})
    assert resolve_model("openai:gpt-image-1.5", {}) == ("openai", "gpt-image-1.5", {})
    assert resolve_model("tiny-plugin:x=1", {}) == ("plugin", "x=1", {})
    assert resolve_model("tiny-plugin", {}) == ("plugin", "", {})


def test_an_existing_path_wins_over_a_prefix_reading(fake_models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "folder:old"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"jpg")
    assert split_model_spec("folder:old") == ("folder", "folder:old")
    (folder / "a.jpg").unlink()
    (folder / "model_index.json").write_text("{}")
    assert split_model_spec("folder:old") == ("diffusers", "folder:old")


def test_unknown_prefix_suggests_close_matches(fake_models):
    with pytest.raises(ModelSpecError, match=r"unknown model kind 'difusers'.*did you mean diffusers:\?"):
        resolve_model("difusers:x", {})
    with pytest.raises(ModelSpecError, match=r"known: bagel, diffusers, folder, openai, tiny-plugin"):
        resolve_model("zzz:x", {})


BAGEL_REPO_FILES = ["llm_config.json", "vit_config.json", "ae.safetensors", "ema.safetensors",
                    "tokenizer.json", "README.md"]


@pytest.fixture
def fake_hub(monkeypatch):
    """The Hub as a dict repo -> files (huggingface_hub's HfApi.list_repo_files patched)."""
    from huggingface_hub import HfApi

    from echo4o_eval.models import hub

    repos = {"Yejy53/Echo-4o": BAGEL_REPO_FILES,
             "black-forest-labs/FLUX.1-dev": ["model_index.json", "transformer/config.json"],
             "someone/loras": ["adapter.safetensors"]}
    asked = []

    def list_repo_files(self, repo_id, revision=None, **kwargs):
        asked.append((repo_id, revision))
        return repos[repo_id]

    monkeypatch.setattr(hub, "hub_offline", lambda: False)
    monkeypatch.setattr(hub, "probe_hub", lambda timeout=5.0: None)
    monkeypatch.setattr(HfApi, "list_repo_files", list_repo_files)
    return asked


def test_hub_ids_are_recognised_by_their_files_not_their_names(fake_models, fake_hub):
    assert resolve_model("Yejy53/Echo-4o", {}) == ("bagel", "Yejy53/Echo-4o", {})
    assert resolve_model("black-forest-labs/FLUX.1-dev@abc", {}) == (
        "diffusers", "black-forest-labs/FLUX.1-dev@abc", {})
    assert fake_hub[-1] == ("black-forest-labs/FLUX.1-dev", "abc")
    with pytest.raises(ModelSpecError, match="neither a Bagel/Echo-4o checkpoint .* nor a diffusers"):
        resolve_model("someone/loras", {})


def test_aliases_name_the_official_repos(fake_models, fake_hub):
    assert split_model_spec("echo4o") == ("bagel", "Yejy53/Echo-4o")
    assert split_model_spec("bagel") == ("bagel", "ByteDance-Seed/BAGEL-7B-MoT")
    assert fake_hub == []  # aliases need no Hub look-up


def test_offline_hub_id_says_offline_and_how_to_pre_download(fake_models, monkeypatch, tmp_path):
    from echo4o_eval.models import hub

    monkeypatch.setattr(hub, "hub_offline", lambda: True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelSpecError) as error:
        resolve_model("Yejy53/Echo-4o", {})
    message = str(error.value)
    assert "HF_HUB_OFFLINE is set" in message and "hf download Yejy53/Echo-4o" in message
    assert "diffusers:" not in message


def test_path_that_is_nothing_says_what_was_looked_for(fake_models, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelSpecError) as error:
        resolve_model(str(tmp_path), {})
    message = str(error.value)
    for looked_for in ("llm_config.json", "model_index.json", ".png", "folder:PATH"):
        assert looked_for in message


def test_incomplete_bagel_checkpoint_lists_what_is_missing(fake_models, tmp_path):
    ckpt = bagel_checkpoint(tmp_path / "ckpt", tokenizer=())
    (ckpt / "ema.safetensors").unlink()
    with pytest.raises(ModelSpecError, match="incomplete: missing ema.safetensors; missing tokenizer"):
        recognise_path(ckpt)


def test_file_and_missing_paths(fake_models, tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelSpecError, match="is a file"):
        resolve_model(str(tmp_path / "model.safetensors"), {})
    with pytest.raises(ModelSpecError, match="neither an existing path nor a model spec"):
        resolve_model(str(tmp_path / "nothing-here"), {})
    with pytest.raises(ModelSpecError, match="empty --model"):
        resolve_model("", {})


def test_image_scan_is_bounded_in_depth(fake_models, tmp_path):
    deep = tmp_path / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "x.png").write_bytes(b"png")
    with pytest.raises(ModelSpecError, match="not a model folder"):
        recognise_path(tmp_path)


def test_grammar_text_names_every_form_and_plugins(fake_models):
    text = describe_model_grammar()
    for form in ("PATH", "bagel:PATH", "diffusers:HUB_ID_OR_PATH", "folder:PATH", "openai:MODEL",
                 "ECHO4O_BAGEL_REPO", "echo4o_eval.models", "tiny-plugin"):
        assert form in text


def test_real_registry_has_the_builtin_kinds():
    from echo4o_eval.catalog import MODELS

    for name in ("bagel", "diffusers", "folder"):
        assert name in MODELS
