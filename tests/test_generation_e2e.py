"""`echo4o-eval run` end to end: generate with real adapters, judge, score, 2 ranks, kill, resume.

Models: the tiny random diffusers SD3 pipeline (tests/tiny_pipelines.py; its image-to-image
twin for OmniContext's reference images) and the Bagel adapter over the stand-in checkout (a
TEST DOUBLE, tests/bagel_stand_in/). Judges: GenEval reads a detections file (empty detections
for every image path the run will write); GenEval++, Imagine-Bench and OmniContext use the
`openai:` VLM judge against the local fake OpenAI server, which answers each request with JSON
matching the request's response schema. Every launch is two real processes with torchrun's
environment (RANK, WORLD_SIZE, ...) and the file barrier.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from echo4o_eval.rundir.store import load_run
from echo4o_eval.records.types import Status
from fake_openai_server import FakeOpenAIServer
from fake_judge_replies import geneval_pp_reply
from tests.bagel_stand_in_checkpoint import STAND_IN_REPO, write_stand_in_checkpoint
from tests.tiny_pipelines import save_tiny_sd3

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
LAUNCH_TIMEOUT_S = 300


def schema_instance(schema: dict):
    """A value that satisfies a (simple) JSON schema: the fake judge's generic answer."""
    kind = schema.get("type")
    if kind == "object":
        return {name: schema_instance(sub) for name, sub in schema.get("properties", {}).items()}
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": 7, "number": 7.0, "boolean": True, "array": [], "string": "plausible"}[kind]


def fake_judge_reply(body: dict) -> str:
    schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
    if "checks" in schema.get("properties", {}):
        return geneval_pp_reply(body)  # one verdict per numbered requirement
    return json.dumps(schema_instance(schema))


@pytest.fixture(scope="module")
def judge_server():
    server = FakeOpenAIServer(responder=fake_judge_reply)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, data_dir):
    """Tiny pipelines, the stand-in checkpoint and a data dir holding the four benchmarks."""
    datasets = pytest.importorskip("datasets")
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    data.mkdir()
    for name in ("geneval", "geneval_pp", "imagine_bench"):
        (data / name).symlink_to(data_dir / name)
    colours = ["red", "blue", "green", "white", "black", "yellow"]
    rows = {
        "key": [f"k{i}" for i in range(6)],
        "task_type": ["single_character", "multi_object", "scene_character"] * 2,
        "instruction": [f"Instruction number {i} with the given subjects." for i in range(6)],
        "instruction_language": ["en"] * 6,
        "input_images": [[Image.new("RGB", (32, 32), colours[i])] + (
            [Image.new("RGB", (48, 32), colours[-i])] if i % 3 else []) for i in range(6)],
    }
    features = datasets.Features({
        "key": datasets.Value("string"), "task_type": datasets.Value("string"),
        "instruction": datasets.Value("string"), "instruction_language": datasets.Value("string"),
        "input_images": datasets.Sequence(datasets.Image()),
    })
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(data / "omnicontext"))
    return {
        "root": root,
        "data": data,
        "sd3": save_tiny_sd3(root / "sd3"),
        "sd3_i2i": save_tiny_sd3(root / "sd3_i2i", image_to_image=True),
        "bagel": write_stand_in_checkpoint(root / "echo4o_ckpt"),
    }


def model_arguments(workspace, model: str, benchmark: str) -> list[str]:
    if model == "diffusers":
        pipeline = workspace["sd3_i2i" if benchmark == "omnicontext" else "sd3"]
        options = ["width=64", "height=64", "num_inference_steps=2", "batch_size=2", "device=cpu"]
        if benchmark == "omnicontext":
            options.append("strength=0.6")
        spec = f"diffusers:{pipeline}"
    else:  # a bare checkpoint folder, recognised by its contents
        options = [f"bagel_repo={STAND_IN_REPO}", "device=cpu", "num_timesteps=2"]
        spec = str(workspace["bagel"])
    args = ["--model", spec]
    for option in options:
        args += ["--model-option", option]
    return args


def judge_arguments(benchmark: str, run_dir: Path, workspace, server) -> list[str]:
    if benchmark == "geneval":
        return ["--judge", f"detections:{run_dir.parent / (run_dir.name + '-detections.jsonl')}"]
    return ["--judge", "openai:gpt-4.1", "--judge-base-url", server.base_url,
            "--judge-api-key-env", "E2E_FAKE_KEY", "--judge-option", "cache_dir=none"]


def write_geneval_detections(run_dir: Path, data: Path, limit: int, images: int) -> None:
    """Empty detections for every image path the run will write (scores are all 'wrong')."""
    from echo4o_eval.assets import Assets
    from echo4o_eval.spec import get_benchmark, load_benchmark
    from echo4o_eval.rundir.store import safe_name

    spec = get_benchmark("geneval")
    samples = load_benchmark(spec).load_samples(Assets(spec, data_dir=data, allow_download=False), None)
    lines = [json.dumps({"image": str(run_dir / "images" / safe_name(s.id) / f"{i}.png"),
                         "image_size": [64, 64], "detections": []})
             for s in samples[:limit] for i in range(images)]
    (run_dir.parent / (run_dir.name + "-detections.jsonl")).write_text("\n".join(lines) + "\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(workspace, server, model, benchmark, run_dir, limit, images) -> list[str]:
    if benchmark == "geneval":
        write_geneval_detections(run_dir, workspace["data"], limit, images)
    return [sys.executable, "-m", "echo4o_eval", "run", "--benchmark", benchmark,
            *model_arguments(workspace, model, benchmark),
            *judge_arguments(benchmark, run_dir, workspace, server),
            "--run-dir", str(run_dir), "--data-dir", str(workspace["data"]), "--offline",
            "--limit", str(limit), "--images-per-prompt", str(images), "--bootstrap", "0",
            "--judge-batch", "2", "--barrier-timeout", "240", "-q"]


def launch(cmd: list[str], workspace, world_size: int) -> list[subprocess.Popen]:
    """Start ``world_size`` ranks the way torchrun would (one launch id, one master port)."""
    launch_id, port = uuid.uuid4().hex, str(free_port())
    procs = []
    for rank in range(world_size):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "E2E_FAKE_KEY": "sk-fake",
               "ECHO4O_CACHE_DIR": str(workspace["root"] / "cache"),
               "PYTHONPATH": str(REPO), "ECHO4O_LAUNCH_ID": launch_id}
        if world_size > 1:
            env.update({"RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank),
                        "LOCAL_WORLD_SIZE": str(world_size), "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": port})
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, cwd=workspace["root"]))
    return procs


def finish(procs: list[subprocess.Popen]) -> list[str]:
    """Wait for every rank; a rank that fails ends the launch at once with its stderr."""
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    try:
        while any(proc.poll() is None for proc in procs):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            assert not failed, f"rank exited {failed[0].returncode}:\n{failed[0].stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, f"launch still running after {LAUNCH_TIMEOUT_S} s"
            time.sleep(0.1)
        outputs = []
        for proc in procs:
            out, err = proc.communicate()
            assert proc.returncode == 0, f"rank exited {proc.returncode}:\n{err[-3000:]}"
            outputs.append(out)
        return outputs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def records(run_dir: Path, kind: str) -> list[tuple[str, int]]:
    keys = []
    for shard in sorted(run_dir.glob("records-*.jsonl")):
        for line in shard.read_text().splitlines():
            record = json.loads(line)
            if record["type"] == kind:
                keys.append((record["key"]["sample_id"], record["key"]["image_index"]))
    return keys


def check_complete(run_dir: Path, limit: int, images: int, sharded: bool = True):
    data = load_run(run_dir)
    assert data.result is not None, "rank 0 wrote no result"
    assert data.result.n_images == limit * images and data.result.n_samples == limit
    assert len(data.generations) == limit * images
    failed = {k: g.error for k, g in data.generations.items() if g.status is not Status.OK}
    assert not failed, failed
    assert all(Path(g.image_path).is_file() for g in data.generations.values())
    assert len(data.scores) == limit * images
    assert data.result.coverage == 1.0, data.result.status_counts
    generation_keys = records(run_dir, "generation")
    assert len(generation_keys) == len(set(generation_keys)) == limit * images  # nothing redone
    if sharded:
        assert all((run_dir / f"records-{r}.jsonl").stat().st_size > 0 for r in (0, 1))
    return data


MATRIX = [
    ("diffusers", "geneval_pp", 3, 1), ("diffusers", "imagine_bench", 3, 1),
    ("diffusers", "omnicontext", 4, 1), ("bagel", "geneval", 3, 2),
    ("bagel", "geneval_pp", 3, 1), ("bagel", "imagine_bench", 3, 1),
]


@pytest.mark.parametrize("model, benchmark, limit, images", MATRIX)
def test_two_ranks_generate_and_score(workspace, judge_server, tmp_path, model, benchmark,
                                      limit, images):
    run_dir = tmp_path / "run"
    finish(launch(command(workspace, judge_server, model, benchmark, run_dir, limit, images),
                  workspace, 2))
    data = check_complete(run_dir, limit, images)
    params = next(iter(data.generations.values())).params
    assert params["task"] == ("multi_reference" if benchmark == "omnicontext" else "text_to_image")
    if model == "bagel":
        assert params["num_timesteps"] == 2 and params["cfg_text_scale"] == 4.0


def kill_once_started(procs, run_dir: Path, generations_before_kill: int) -> int:
    """SIGKILL every rank once the shards hold enough generation records; returns that count."""
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        try:
            count = len(records(run_dir, "generation"))
        except (json.JSONDecodeError, KeyError):
            count = 0  # a line being written
        if count >= generations_before_kill:
            for proc in procs:
                proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    for proc in procs:
        proc.wait()
    return len(load_run(run_dir).generations)


@pytest.mark.parametrize("model, benchmark, limit, images", [
    ("diffusers", "geneval", 8, 2), ("bagel", "omnicontext", 6, 1),
])
def test_killed_sharded_run_resumes_to_the_uninterrupted_result(
        workspace, judge_server, tmp_path, model, benchmark, limit, images):
    reference = tmp_path / "reference"
    finish(launch(command(workspace, judge_server, model, benchmark, reference, limit, images),
                  workspace, 1))
    want = check_complete(reference, limit, images, sharded=False)

    interrupted = tmp_path / "interrupted"
    cmd = command(workspace, judge_server, model, benchmark, interrupted, limit, images)
    if model == "diffusers":  # one image per call: the kill lands mid-generation
        cmd[cmd.index("batch_size=2")] = "batch_size=1"
    kept = kill_once_started(launch(cmd, workspace, 2), interrupted, 2)
    assert 0 < kept < limit * images, f"kill did not land mid-run ({kept} images recorded)"
    assert load_run(interrupted).result is None

    finish(launch(cmd, workspace, 2))  # same command, a new launch: resumes
    got = check_complete(interrupted, limit, images)
    assert got.result.metrics == want.result.metrics
    assert {k: s.values for k, s in got.scores.items()} == {k: s.values for k, s in want.scores.items()}
    for key, generation in want.generations.items():  # same seeds, same images
        assert got.generations[key].seed == generation.seed
        a = np.asarray(Image.open(generation.image_path), dtype=np.int16)
        b = np.asarray(Image.open(got.generations[key].image_path), dtype=np.int16)
        assert np.abs(a - b).max() <= 2  # float rounding differs between batch shapes
