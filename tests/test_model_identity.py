"""Model identity: other weights never reuse a run's images; the same weights resume; a finished
run's re-run loads no model; changed settings are refused by name before anything loads."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest

from echo4o_eval.models.identity import ModelIdentityError, checkpoint_signature, hub_identity, identity_of
from echo4o_eval.rundir.store import RunConfigChanged, load_run


def fake_safetensors(path: Path, payload: bytes) -> None:
    header = json.dumps({"w": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]}})
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + payload)


def test_signature_follows_the_weights_not_the_header(tmp_path, monkeypatch):
    monkeypatch.setattr("echo4o_eval.models.identity.FULL_HASH_BYTES", 1024)  # sample, as for big files
    monkeypatch.setattr("echo4o_eval.models.identity.SAMPLE_BYTES", 256)
    (tmp_path / "config.json").write_text("{}")
    fake_safetensors(tmp_path / "model.safetensors", bytes(4096))
    first = checkpoint_signature(tmp_path)
    assert (first["files"], first["kind"]) == (2, "checkpoint")
    assert checkpoint_signature(tmp_path) == first
    fake_safetensors(tmp_path / "model.safetensors", bytes(4095) + b"\1")  # same header, new weights
    assert checkpoint_signature(tmp_path)["signature"] != first["signature"]
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "lock").write_text("x")  # hidden files are not weights
    assert checkpoint_signature(tmp_path)["files"] == 2


def test_hub_identity_uses_a_given_sha_or_the_local_cache(tmp_path, monkeypatch):
    sha = "a" * 40
    assert hub_identity("org/model", sha)["sha"] == sha
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    refs = tmp_path / "models--org--model" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("b" * 40)
    assert hub_identity("org/model") == {"kind": "hub", "repo_id": "org/model", "revision": "main", "sha": "b" * 40}
    assert hub_identity("org/other")["sha"] is None


def test_identity_of_merges_the_callers_name_and_refuses_none():
    class Adapter:
        def identity(self):
            return {"kind": "checkpoint", "signature": "s"}

    assert identity_of(Adapter(), step=3) == {"kind": "checkpoint", "signature": "s", "step": 3}
    with pytest.raises(ModelIdentityError, match="model_id="):
        identity_of(type("NoWeights", (), {"id": "x", "identity": lambda self: None})())


def test_folder_model_identity_is_its_root(tmp_path):
    from echo4o_eval.models.folder import FolderModel

    assert FolderModel(tmp_path).identity() == {"kind": "folder", "root": str(tmp_path.absolute())}


# ---- end to end with tiny diffusers pipelines (need the gen extra) ----

N_PROMPTS = 2


@pytest.fixture(scope="module")
def tiny():
    pytest.importorskip("diffusers")
    from tests.tiny_pipelines import TINY_GENERATION_PARAMS

    return dict(TINY_GENERATION_PARAMS)


@pytest.fixture
def settings(tmp_path, data_dir, tiny):
    dets = tmp_path / "dets.jsonl"
    dets.write_text("".join(json.dumps({"image": f"images/{i:05d}/0.png", "detections": []}) + "\n"
                            for i in range(N_PROMPTS)))
    return {"judge": f"detections:{dets}", "limit": N_PROMPTS, "images_per_prompt": 1,
            "data_dir": data_dir, "allow_download": False, "n_bootstrap": 0, "progress": False,
            "generation_params": tiny, "model_options": {"device": "cpu"}}


def test_two_in_memory_checkpoints_under_one_name_are_two_runs(tmp_path, settings):
    from echo4o_eval import evaluate
    from tests.tiny_pipelines import build_tiny_sd3

    runs = str(tmp_path / "runs")
    step_100, step_200 = build_tiny_sd3(seed=0), build_tiny_sd3(seed=1)
    first = evaluate("geneval", step_100, model_id="tiny", step=100, runs_root=runs, **settings)
    second = evaluate("geneval", step_200, model_id="tiny", step=200, runs_root=runs, **settings)
    assert first.run_dir != second.run_dir
    assert first.generated == second.generated == N_PROMPTS
    for outcome, step in ((first, 100), (second, 200)):
        assert load_run(outcome.run_dir).manifest["model"]["identity"] == {"model_id": "tiny", "step": step}
    pixels = [(o.run_dir / "images" / "00000" / "0.png").read_bytes() for o in (first, second)]
    assert pixels[0] != pixels[1]  # each run holds its own checkpoint's images
    again = evaluate("geneval", step_100, model_id="tiny", step=100, runs_root=runs, **settings)
    assert (again.run_dir, again.generated, again.scored) == (first.run_dir, 0, 0)
    with pytest.raises(ModelIdentityError, match="model_id="):
        evaluate("geneval", step_100, runs_root=runs, **settings)


def test_checkpoint_on_disk_identity_lazy_loading_and_named_refusals(tmp_path, settings, monkeypatch):
    from echo4o_eval import evaluate
    from tests.tiny_pipelines import save_tiny_sd3

    checkpoint = save_tiny_sd3(tmp_path / "ckpt", seed=0)
    spec, run_dir = f"diffusers:{checkpoint}", tmp_path / "run"
    first = evaluate("geneval", spec, run_dir=run_dir, **settings)
    assert first.generated == N_PROMPTS
    manifest = load_run(run_dir).manifest
    assert manifest["model"]["identity"]["kind"] == "checkpoint"
    assert manifest["model_settings"]["adapter"] == "diffusers"

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("echo4o_eval.factories.make_model", no_loading)
    again = evaluate("geneval", spec, run_dir=run_dir, **settings)  # finished: nothing loads
    assert (again.generated, again.scored) == (0, 0) and again.result.n_images == N_PROMPTS

    changed = {**settings, "generation_params": {**settings["generation_params"], "num_inference_steps": 3}}
    started = time.perf_counter()
    with pytest.raises(RunConfigChanged) as caught:
        evaluate("geneval", spec, run_dir=run_dir, **changed)
    assert time.perf_counter() - started < 1.0
    assert "generation_params.num_inference_steps: 2 -> 3" in str(caught.value)

    monkeypatch.undo()
    save_tiny_sd3(tmp_path / "ckpt", seed=1)  # new weights under the same spec
    with pytest.raises(RunConfigChanged, match=r"model\.identity\.signature: "):
        evaluate("geneval", spec, run_dir=run_dir, **settings)
    fresh = evaluate("geneval", spec, run_dir=run_dir, new_run=True, **settings)
    assert fresh.run_dir != run_dir.absolute() and fresh.generated == N_PROMPTS


def test_unknown_generation_params_are_errors_unless_allowed(tmp_path, settings):
    from echo4o_eval import evaluate
    from tests.tiny_pipelines import save_tiny_sd3

    spec = f"diffusers:{save_tiny_sd3(tmp_path / 'ckpt')}"
    typo = {**settings, "generation_params": {**settings["generation_params"], "stpes": 2}}
    with pytest.raises(ValueError, match=r"unknown --gen-param 'stpes' \(did you mean 'steps'\?\)"):
        evaluate("geneval", spec, run_dir=tmp_path / "run", **typo)
    assert not (tmp_path / "run").exists()  # refused before the run directory was made
    outcome = evaluate("geneval", spec, run_dir=tmp_path / "run", allow_unknown_params=True, **typo)
    assert outcome.generated == N_PROMPTS


def test_a_model_built_from_a_spec_without_identity_is_named_by_its_spec(tmp_path, data_dir, monkeypatch):
    from PIL import Image

    from echo4o_eval import evaluate
    from echo4o_eval.models.callable_model import CallableModel

    class ApiLike(CallableModel):  # an adapter without identity(), as image APIs and old plugins
        identity = None

    def factory(spec, options):
        return ApiLike(lambda prompts: [Image.new("RGB", (8, 8)) for _ in prompts])

    monkeypatch.setattr("echo4o_eval.runner.make_model", factory)
    outcome = evaluate("geneval", "someapi:model-x", None, run_dir=tmp_path / "run", generate_only=True,
                       limit=1, images_per_prompt=1, data_dir=data_dir, allow_download=False, progress=False)
    assert outcome.generated == 1
    identity = load_run(tmp_path / "run").manifest["model"]["identity"]
    assert identity == {"kind": "spec", "spec": "someapi:model-x"}


def test_generation_params_of_a_diffusers_checkpoint_are_checked_without_loading_it(tmp_path, tiny, monkeypatch):
    from echo4o_eval.deferred import deferred_model
    from echo4o_eval.models.generation_params import check_generation_params
    from tests.tiny_pipelines import save_tiny_sd3

    model = deferred_model(str(save_tiny_sd3(tmp_path / "ckpt")), {"device": "cpu"})
    monkeypatch.setattr("echo4o_eval.factories.make_model", None)  # loading would fail
    check_generation_params(model, {"steps": 2, "max_sequence_length": 77}, allow_unknown=False)
    with pytest.raises(ValueError, match=r"'guidanse_scale' \(did you mean 'guidance_scale'\?\)"):
        check_generation_params(model, {"guidanse_scale": 3}, allow_unknown=False)
    assert not model.loaded
