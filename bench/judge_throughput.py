"""Judged-run throughput of the whole CLI against the local fake OpenAI server, side by side
with the official GenEval++ script (or, without it, a sequential loop like it).

Every figure times a complete ``echo4o-eval score`` command in a subprocess (start-up, data
loading, image preparation, requests, records, aggregation), against the fake server of the
test suite running in this process. Scenarios (``--scenarios``, default all):

``latency``    280 GenEval++ samples (512 px), server latency ``--latency`` (1.5 s), concurrency
               ``--concurrency`` (32); beside it the official script when ``--official PATH`` is
               given (run unmodified in a subprocess; a wrapper points its OpenAI client at the
               fake server at run time), else a sequential loop over ``--sequential`` samples
               extrapolated to 280 (printed as such). Prints the ideal time
               (latency x calls / concurrency) beside the measured one.
``zero``       1,120 images (280 x 4, 512 px) at zero latency: the CPU cost of our pipeline.
``cached``     280 1024 px images judged, then judged again in a fresh run dir over the same
               response cache: calls made and wall time of the second run.
``ratelimit``  the server allows ``--rpm`` requests per minute (429 beyond, with Retry-After),
               we start at concurrency 64 with no client-side limit: judge_error count and
               throughput as a share of the limit.

``--official PATH`` runs the official script unchanged (``python PATH <--official-args>``) in a
scratch folder laid out as it expects: ``Geneval++.jsonl`` beside it and the images as
``image/<line>.jpg`` (the same pictures as ours, saved as JPEG); the arguments may use
``{images}``, ``{jsonl}`` and ``{out}`` (the scratch folder). A wrapper points its OpenAI client at
the fake server; the script's own code is never copied or edited. With it, our CLI runs in
``--mode parity`` and the server answers both in the official reply format, the same reply for
the same request text, so the two overall scores must agree (both are printed).

Run: ``python bench/judge_throughput.py [--scenarios latency,zero,cached,ratelimit]``
(needs the official GenEval++ file: ECHO4O_DATA_DIR, default ../shared/benchmarks). To time
another checkout, put it first on PYTHONPATH; the fake server always comes from this one.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the fake server lives with the tests

from fake_judge_replies import geneval_pp_reply  # noqa: E402
from fake_openai_server import FakeOpenAIServer  # noqa: E402

# Runs the official script unchanged: its OpenAI client is pointed at the fake server.
_WRAPPER = r"""
import os, runpy, sys
import openai
base_url, script = sys.argv[1], sys.argv[2]
os.environ["OPENAI_BASE_URL"] = base_url
os.environ.setdefault("OPENAI_API_KEY", "not-needed")
for name in ("OpenAI", "AsyncOpenAI"):
    cls = getattr(openai, name)
    original = cls.__init__
    def patched(self, *a, _original=original, **kw):
        kw["base_url"] = base_url
        kw.setdefault("api_key", "not-needed")
        _original(self, *a, **kw)
    cls.__init__ = patched
sys.argv = [script, *sys.argv[3:]]
runpy.run_path(script, run_name="__main__")
"""


class Stamped:
    """The fake replies, with the time each one was answered (for the phase breakdown)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, body):
        self.times.append(time.perf_counter())
        if "checks" in json.dumps(body.get("response_format") or {}):
            return geneval_pp_reply(body)
        return official_format_reply(body)


def official_format_reply(body) -> str:
    """The official prompt's reply format (``{"correct": 0/1, "reason": ...}``), decided by the
    request's text only, so our parity run and the official script get the same reply."""
    import hashlib

    from fake_judge_replies import user_text

    digest = hashlib.sha256(user_text(body).encode()).digest()
    reply = json.dumps({"correct": digest[0] % 2, "reason": "as seen"})
    return f"```json\n{reply}\n```" if digest[1] % 3 == 0 else reply


def data_dir() -> Path:
    return Path(os.environ.get("ECHO4O_DATA_DIR") or REPO.parent / "shared" / "benchmarks")


def sample_ids() -> list[str]:
    lines = (data_dir() / "geneval_pp" / "Geneval++.jsonl").read_text(encoding="utf-8").splitlines()
    return [str(n) for n, line in enumerate(lines, 1) if line.strip()]


def make_images(folder: Path, ids, per_prompt: int, size: int) -> Path:
    """``<id>.png`` for one image per prompt (Echo-4o layout), ``<id>/<i>.png`` otherwise."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for n, sid in enumerate(ids):
        for i in range(per_prompt):
            image = Image.new("RGB", (size, size), (n % 256, (40 * i) % 256, 90))
            image.putpixel((i, 0), (255, 255, 255))
            path = folder / f"{sid}.png" if per_prompt == 1 else folder / sid / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
    return folder


# The command as a user runs it computes intervals; --no-intervals drops them (``--bootstrap 0``),
# e.g. to compare with code whose 1000-resample bootstrap would dominate the time.
INTERVALS_OFF: list[str] = []


def run_cli(server, images: Path, run_dir: Path, cache: Path, concurrency: int,
            per_prompt: int = 1, extra=()) -> dict:
    """Time one whole `score` command; returns seconds, calls seen by the server, result usage."""
    command = [sys.executable, "-m", "echo4o_eval", "score", "--benchmark", "geneval_pp",
               "--model", f"folder:{images}", "--judge", "openai:fake-judge",
               "--judge-base-url", server.base_url, "--judge-api-key-env", "ECHO4O_BENCH_KEY",
               "--judge-option", f"cache_dir={cache}", "--judge-option", f"concurrency={concurrency}",
               "--judge-batch", str(max(64, concurrency)),
               "--data-dir", str(data_dir()), "--offline", "--run-dir", str(run_dir),
               "-q", *INTERVALS_OFF, *extra]
    if per_prompt != 1:
        command += ["--images-per-prompt", str(per_prompt)]
    before = server.count()
    stamps = getattr(server.responder, "times", [])
    seen = len(stamps)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=run_dir.parent,
                          env={**os.environ, "OPENAI_API_KEY": ""})
    seconds = time.perf_counter() - start
    mine = stamps[seen:]
    phases = None
    if mine:  # until the first reply, from the first to the last reply, after the last
        phases = (min(mine) - start - server.latency, max(mine) - min(mine) + server.latency,
                  start + seconds - max(mine))
    if done.returncode != 0:
        raise SystemExit(f"CLI failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    result = json.loads((run_dir / "result.json").read_text())
    statuses = result["result"].get("status_counts") or {}
    return {"seconds": seconds, "server_calls": server.count() - before, "phases": phases,
            "load": f"load {load_before:.2f} -> {os.getloadavg()[0]:.2f}",
            "usage": result.get("usage", {}), "statuses": statuses,
            "overall": result["result"]["metrics"].get("overall", {}).get("value")}


def phases(result: dict) -> str:
    if not result["phases"]:
        return "no request reached the server"
    start, middle, end = result["phases"]
    return (f"start-up until the first request {start:.1f} s, requests {middle:.1f} s, "
            f"after the last reply {end:.1f} s")


def sequential_baseline(server, images: Path, n: int) -> float:
    """Seconds per sample of a one-call-at-a-time loop like the official script's."""
    import base64
    import io

    from openai import OpenAI
    from PIL import Image

    client = OpenAI(api_key="unused", base_url=server.base_url, max_retries=0)
    system = (data_dir().parent / "judge_prompts" / "geneval_pp_system.txt")
    system_text = system.read_text(encoding="utf-8") if system.exists() else "judge"
    rows = (data_dir() / "geneval_pp" / "Geneval++.jsonl").read_text(encoding="utf-8").splitlines()
    start = time.perf_counter()
    for number, row in enumerate(rows[:n], 1):  # encode, call, parse, next
        prompt = json.loads(row).get("prompt", "")
        buffer = io.BytesIO()
        Image.open(images / f"{number}.png").convert("RGB").save(buffer, format="JPEG")
        url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
        reply = client.chat.completions.create(
            model="gpt-4.1", max_tokens=200, temperature=0.0,
            messages=[{"role": "system", "content": system_text},
                      {"role": "user", "content": [{"type": "text", "text": prompt},
                                                   {"type": "image_url", "image_url": {"url": url}}]}])
        reply.choices[0].message.content
    return (time.perf_counter() - start) / n


def official_run(server, script: str, args: str, images: Path, out: Path) -> tuple[float, dict]:
    """Seconds the official script takes (whole process) and its Output.json."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    wrapper = out / "point_at_fake_server.py"
    wrapper.write_text(_WRAPPER)
    jsonl = out / "Geneval++.jsonl"
    jsonl.write_bytes((data_dir() / "geneval_pp" / "Geneval++.jsonl").read_bytes())
    (out / "image").mkdir(exist_ok=True)
    for path in images.glob("*.png"):  # its layout: image/<line>.jpg
        Image.open(path).convert("RGB").save(out / "image" / f"{path.stem}.jpg", quality=95)
    filled = [a.format(images=out / "image", jsonl=jsonl, out=out) for a in shlex.split(args)]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(wrapper), server.base_url, script, *filled],
                          capture_output=True, text=True, cwd=out,
                          env={**os.environ, "OPENAI_API_KEY": "not-needed"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"official script failed ({done.returncode}):\n{done.stderr[-3000:]}")
    output = out / "Output.json"
    return seconds, json.loads(output.read_text()) if output.exists() else {}


def scenario_latency(args, work: Path) -> None:
    ids = sample_ids()
    images = make_images(work / "lat_images", ids, 1, 512)
    parity = ["--mode", "parity"] if args.official else []  # the official prompt and replies
    if args.official:  # parity mode reads its judge prompt from this same script (sha256-checked)
        os.environ.setdefault("ECHO4O_OFFICIAL_SCRIPTS_DIR", str(Path(args.official).resolve().parent))
    with FakeOpenAIServer(responder=Stamped(), latency=args.latency) as server:
        ours = run_cli(server, images, work / "lat_run", work / "lat_cache", args.concurrency, extra=parity)
        ideal = args.latency * ours["server_calls"] / args.concurrency
        print(f"[latency] {len(ids)} samples, latency {args.latency} s, concurrency {args.concurrency}")
        print(f"  ours (whole CLI): {ours['seconds']:.1f} s, server saw {ours['server_calls']} calls, "
              f"result.json judge_calls {ours['usage'].get('judge_calls')}, overall {ours['overall']}")
        print(f"  ideal (latency x calls / concurrency): {ideal:.1f} s; ours / ideal = "
              f"{ours['seconds'] / ideal:.2f} (whole CLI), {ours['phases'][1] / ideal:.2f} (requests only)")
        print(f"  ours, phases: {phases(ours)} ({ours['load']})")
        if args.official:
            server.reset()
            theirs, output = official_run(server, args.official, args.official_args, images,
                                          work / "official")
            label = (f"official script, unchanged ({server.count()} calls seen; its overall score "
                     f"{output.get('overall_score_mean_of_tags')}, ours {ours['overall']})")
        else:
            per_call = sequential_baseline(server, images, args.sequential)
            theirs = per_call * len(ids)
            label = (f"sequential loop like the official script ({per_call:.2f} s/call over "
                     f"{args.sequential} calls, extrapolated to {len(ids)})")
        print(f"  {label}: {theirs:.1f} s")
        print(f"  speed-up: {theirs / ours['seconds']:.1f}x (ideal {theirs / ideal:.1f}x)")


def scenario_zero(args, work: Path) -> None:
    ids = sample_ids()
    images = make_images(work / "zero_images", ids, 4, 512)
    with FakeOpenAIServer(responder=Stamped()) as server:
        ours = run_cli(server, images, work / "zero_run", work / "zero_cache", args.concurrency, per_prompt=4)
    n = 4 * len(ids)
    print(f"[zero] {n} images (512 px), zero latency, concurrency {args.concurrency}: "
          f"{ours['seconds']:.1f} s whole CLI ({1000 * ours['seconds'] / n:.1f} ms per image), "
          f"{ours['server_calls']} calls; target <= 12 s\n  phases: {phases(ours)} ({ours['load']})")


def judge_stage(server, images: Path, cache: Path, concurrency: int) -> tuple[float, int]:
    """Seconds our judge takes over the 280 requests in this process (the CLI's judging stage
    without start-up, folder checks and records), and the calls the server saw."""
    from echo4o_eval.assets import Assets
    from echo4o_eval.catalog import JUDGES
    from echo4o_eval.records.types import Generation, Status

    try:  # this checkout: benchmarks as objects
        from echo4o_eval.spec import load_benchmark

        bench = load_benchmark("geneval_pp")
        spec, load, make = bench.spec, bench.load_samples, bench.make_evaluator
    except ImportError:  # older checkouts
        from echo4o_eval.spec import get_benchmark

        spec = get_benchmark("geneval_pp")
        load, make = spec.scorer.load_samples, spec.scorer.make_evaluator
    samples = load(Assets(spec, data_dir=data_dir(), allow_download=False), None)
    evaluator = make("vlm", {"mode": "default"})
    requests = [r for s in samples for r in evaluator.requests(
        s, Generation(s.id, 0, 0, Status.OK, image_path=str(images / f"{s.id}.png")))]
    judge = JUDGES.get("openai")("fake-judge", {"base_url": server.base_url, "cache_dir": str(cache),
                                                "concurrency": concurrency, "api_key_env": "ECHO4O_BENCH_KEY"})
    before = server.count()
    start = time.perf_counter()
    judgements = judge.judge(requests)
    seconds = time.perf_counter() - start
    judge.close()
    assert all(j.status.value == "ok" for j in judgements)
    return seconds, server.count() - before


def scenario_cached(args, work: Path) -> None:
    ids = sample_ids()
    images = make_images(work / "cache_images", ids, 1, 1024)
    with FakeOpenAIServer(responder=Stamped()) as server:
        first = run_cli(server, images, work / "cache_run1", work / "cache_cache", args.concurrency)
        second = run_cli(server, images, work / "cache_run2", work / "cache_cache", args.concurrency)
        stage, stage_calls = judge_stage(server, images, work / "cache_cache", args.concurrency)
    print(f"[cached] {len(ids)} images (1024 px): first run {first['seconds']:.1f} s, "
          f"{first['server_calls']} calls; re-run from cache {second['seconds']:.2f} s, "
          f"{second['server_calls']} calls (result.json: judge_calls {second['usage'].get('judge_calls')}, "
          f"judge_cached {second['usage'].get('judge_cached')}, cost ${second['usage'].get('judge_cost_usd')}); "
          f"target 0 calls, <= 3 s ({second['load']})\n  judging stage alone (in process, same cache): {stage:.2f} s, "
          f"{stage_calls} calls")


def scenario_ratelimit(args, work: Path) -> None:
    n = max(1, int(args.rpm / 60 * args.duration))
    ids = sample_ids()[:n]
    images = make_images(work / "rl_images", ids, 1, 256)
    with FakeOpenAIServer(responder=Stamped(), latency=args.rl_latency,
                          rate_limit_rpm=args.rpm) as server:
        ours = run_cli(server, images, work / "rl_run", work / "rl_cache", 64,
                       extra=["--limit", str(n)])
        refused = server.count() - server.count(ok_only=True)
    ok = ours["statuses"].get("ok", 0)
    rate = 60 * ok / ours["seconds"]  # judged successfully, whole CLI (start-up included)
    span = ours["phases"][1] if ours["phases"] else float("nan")
    span_rate = 60 * ok / span  # from the first request to the last reply
    print(f"[ratelimit] server limit {args.rpm:.0f} rpm (429 beyond), {n} images, concurrency 64, "
          f"latency {args.rl_latency} s: whole CLI {ours['seconds']:.1f} s, {rate:.0f} judged ok/min = "
          f"{100 * rate / args.rpm:.0f}% of the limit; requests phase {span:.1f} s, {span_rate:.0f} "
          f"judged ok/min = {100 * span_rate / args.rpm:.0f}% of the limit; {ours['server_calls']} "
          f"requests ({refused} answered 429); statuses {ours['statuses']} ({ours['load']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="latency,zero,cached,ratelimit")
    parser.add_argument("--latency", type=float, default=1.5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=20, help="samples timed sequentially")
    parser.add_argument("--official", default=None, help="path of the official GenEval++ script")
    parser.add_argument("--official-args", default="", help="its arguments ({images} {jsonl} {out})")
    parser.add_argument("--rpm", type=float, default=600.0, help="server rate limit (ratelimit)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of work at the limit")
    parser.add_argument("--rl-latency", type=float, default=0.2)
    parser.add_argument("--no-intervals", action="store_true",
                        help="run the CLI with --bootstrap 0 (default: the user's default, intervals on)")
    args = parser.parse_args()
    if args.no_intervals:
        INTERVALS_OFF.extend(["--bootstrap", "0"])
    work = Path(tempfile.mkdtemp(prefix="judge_bench_"))
    import echo4o_eval

    os.chdir(work)  # `python -m` puts the working directory first on sys.path
    print(f"echo4o_eval from {Path(echo4o_eval.__file__).parent}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")
    for name in args.scenarios.split(","):
        {"latency": scenario_latency, "zero": scenario_zero, "cached": scenario_cached,
         "ratelimit": scenario_ratelimit}[name.strip()](args, work)


if __name__ == "__main__":
    main()
