"""Kill `score` with SIGKILL at random points, resume, and get exactly the uninterrupted result;
and kill a judged run (fake OpenAI server with latency) while calls are in flight: resuming pays
for each image once, plus at most the calls in flight at each kill, and loses no judgement the
killed process had received."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from echo4o_eval.rundir.store import load_run
from echo4o_eval.records.types import Status
from geneval_folder import build_geneval_folder

N_PROMPTS = 120  # 480 images


def _command(folder: Path, run_dir: Path, data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "echo4o_eval", "score", "--benchmark", "geneval",
            "--model", f"folder:{folder}", "--judge", f"detections:{folder / 'dets.jsonl'}",
            "--run-dir", str(run_dir), "--data-dir", str(data_dir), "--offline", "--limit", str(N_PROMPTS),
            "--bootstrap", "0", "--judge-batch", "8", "--keep-failed", "-q"]


def _records(run_dir: Path):
    lines = []
    for shard in sorted(run_dir.glob("records-*.jsonl")):
        lines += [json.loads(line) for line in shard.read_text().splitlines()]
    return lines


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_matches_uninterrupted(tmp_path, data_dir):
    folder = tmp_path / "imgs"
    build_geneval_folder(folder, data_dir / "geneval" / "evaluation_metadata.jsonl", N_PROMPTS)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    reference = tmp_path / "reference"
    subprocess.run(_command(folder, reference, data_dir), check=True, env=env, capture_output=True)

    interrupted = tmp_path / "interrupted"
    total = 2 * N_PROMPTS * 4  # one generation and one score record per image
    rng = random.Random(1234)
    targets = sorted(rng.sample(range(1, total), 6))
    kills = 0
    for target in targets:  # kill once the store holds `target` records (random points)
        proc = subprocess.Popen(_command(folder, interrupted, data_dir), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shard = interrupted / "records-0.jsonl"
        while proc.poll() is None:
            if shard.exists() and shard.read_bytes().count(b"\n") >= target:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.001)
        proc.wait()
    done = subprocess.run(_command(folder, interrupted, data_dir), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert kills >= 4, f"only {kills} kills landed mid-run"

    records = _records(interrupted)
    keys = [(r["type"], r["key"]["sample_id"], r["key"]["image_index"]) for r in records]
    assert len(keys) == len(set(keys)), "duplicate records after resume"
    want, got = load_run(reference), load_run(interrupted)
    assert got.generations.keys() == want.generations.keys()
    assert {k: v.values for k, v in got.scores.items()} == {k: v.values for k, v in want.scores.items()}
    assert {k: v.status for k, v in got.scores.items()} == {k: v.status for k, v in want.scores.items()}
    assert got.result.metrics == want.result.metrics
    assert len(got.scores) == N_PROMPTS * 4
    print(f"kills={kills} at record counts {targets} records={len(records)}")


# -- a judged run: SIGKILL while API calls are in flight, resume, never pay twice -------------

N_JUDGED = 40
LATENCY = 0.4  # seconds the fake server takes per reply
TRANSIT = 0.5  # seconds a sent reply may take to be read and cached by a busy client


def _judged_command(images: Path, run_dir: Path, data_dir: Path, base_url: str) -> list[str]:
    return [sys.executable, "-m", "echo4o_eval", "score", "--benchmark", "geneval_pp",
            "--model", f"folder:{images}", "--judge", "openai:fake-judge", "--judge-base-url", base_url,
            "--judge-api-key-env", "ECHO4O_KILL_TEST_KEY", "--judge-option", "concurrency=6",
            "--run-dir", str(run_dir), "--data-dir", str(data_dir), "--offline",
            "--limit", str(N_JUDGED), "--bootstrap", "0", "-q"]


@pytest.mark.slow
def test_sigkill_during_judging_never_pays_twice_and_loses_no_finished_judgement(tmp_path, data_dir, fake_openai):
    import hashlib
    import threading

    from PIL import Image

    from fake_judge_replies import geneval_pp_reply

    images = tmp_path / "images"
    images.mkdir()
    for i in range(1, N_JUDGED + 1):
        Image.new("RGB", (64, 64), (i * 5 % 256, 60, 120)).save(images / f"{i}.png")
    lock = threading.Lock()
    answered: list[tuple[str, float]] = []  # (request digest, when its reply was sent)

    def digest(body) -> str:
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def responder(body):
        with lock:
            answered.append((digest(body), time.monotonic()))
        return geneval_pp_reply(body)

    received: list[tuple[str, float]] = []  # (request digest, when the server received it)

    def note_arrival(index, path, body):
        with lock:
            received.append((digest(body), time.monotonic()))
        return None  # no fault

    server = fake_openai(responder=responder, latency=LATENCY, fault_plan=note_arrival)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "ECHO4O_CACHE_DIR": str(tmp_path / "cache")}
    run_dir = tmp_path / "run"
    kills = []  # (server requests at the kill, in flight, kill time)
    for offset in (3, 14, 9, 11):  # requests this process has sent when the kill lands
        threshold = server.count() + offset
        proc = subprocess.Popen(_judged_command(images, run_dir, data_dir, server.base_url), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and server.count() < threshold:
            time.sleep(0.002)
        if proc.poll() is None:
            in_flight = server.in_flight
            proc.send_signal(signal.SIGKILL)
            kills.append((server.count(), in_flight, time.monotonic()))
        proc.wait()
    done = subprocess.run(_judged_command(images, run_dir, data_dir, server.base_url), env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(kills) >= 3, f"only {len(kills)} kills landed mid-run"

    run = load_run(run_dir)
    assert len(run.scores) == N_JUDGED and all(s.status is Status.OK for s in run.scores.values())
    calls = server.count()
    # In flight at a kill: requests the server had not answered yet, plus replies it had sent
    # in the last TRANSIT seconds (on their way to, or not yet stored by, the killed client).
    transit = [sum(1 for _, t in answered if when - TRANSIT < t <= when) for _, _, when in kills]
    in_flight_total = sum(k[1] for k in kills) + sum(transit)
    # every image was paid for once, plus at most the requests that were in flight at a kill
    assert N_JUDGED <= calls <= N_JUDGED + in_flight_total, (calls, kills, transit)
    # a reply the killed process had received is never asked for again: no finished
    # judgement is lost. Received: an ask that reached the server after the previous kill
    # (plus a little, for requests still arriving from the previous process) and was answered
    # at least TRANSIT seconds before this kill. Asks and replies pair up in order per request.
    asks = []
    for d in {d for d, _ in received}:
        arrivals = sorted(t for e, t in received if e == d)
        replies = sorted(t for e, t in answered if e == d)
        asks += [(d, arrival, reply) for arrival, reply in zip(arrivals, replies)]
    lost, previous = [], float("-inf")
    for _, _, when in kills:
        got = {d for d, arrival, reply in asks if previous + 0.05 < arrival and reply <= when - TRANSIT}
        lost.append(sum(1 for d, arrival, _ in asks if arrival > when and d in got))
        previous = when
    assert lost == [0] * len(kills), (lost, transit, kills)
    records = _records(run_dir)
    keys = [(r["type"], r["key"]["sample_id"]) for r in records]
    assert len(keys) == len(set(keys)), "duplicate records after resume"
    print(f"judged kill test: {len(kills)} kills at server counts {[k[0] for k in kills]}, "
          f"unanswered {[k[1] for k in kills]} + answered in the last {TRANSIT} s {transit}; "
          f"API calls {calls} for {N_JUDGED} images; finished judgements lost per kill {lost}")
