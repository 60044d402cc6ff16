"""GenEval++ judging throughput: our concurrent judge vs a one-call-at-a-time loop like the
official script, against the local fake OpenAI server with a fixed reply latency.

Measured side by side in one process, same server, same requests:
1. our judge, 280 samples, concurrency 32, empty cache;
2. a sequential loop (one ``chat.completions.create`` after another, as the official script
   does) over the first ``--sequential`` samples, extrapolated linearly to 280 (printed as such);
3. our judge again over the now-filled cache: API calls made and wall time.

Run: ``python bench/judge_throughput.py [--latency 1.5] [--concurrency 32] [--sequential 20]``
(needs the official GenEval++ file: ECHO4O_DATA_DIR, default ../shared/benchmarks).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the fake server lives with the tests

from fake_openai_server import FakeOpenAIServer  # noqa: E402
from fake_judge_replies import geneval_pp_reply  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=20, help="samples timed sequentially")
    args = parser.parse_args()

    from openai import OpenAI
    from PIL import Image

    from echo4o_eval.assets import Assets
    from echo4o_eval.benchmarks.geneval_pp.loader import load_samples
    from echo4o_eval.benchmarks.geneval_pp.vlm import GenEvalPlusPlusVLMEvaluator
    from echo4o_eval.catalog import JUDGES
    from echo4o_eval.judges.vlm_messages import build_messages, data_url, encode_image
    from echo4o_eval.spec import get_benchmark
    from echo4o_eval.types import Generation, Status

    data_dir = os.environ.get("ECHO4O_DATA_DIR") or str(REPO.parent / "shared" / "benchmarks")
    samples = load_samples(Assets(get_benchmark("geneval_pp"), data_dir=data_dir, allow_download=False))
    work = Path(tempfile.mkdtemp(prefix="judge_bench_"))
    generations = []
    for s in samples:
        path = work / f"{s.id}.png"
        Image.new("RGB", (512, 512), (int(s.id) % 256, 90, 40)).save(path)
        generations.append(Generation(s.id, 0, 0, Status.OK, image_path=str(path)))
    evaluator = GenEvalPlusPlusVLMEvaluator({})
    requests = [r for s, g in zip(samples, generations) for r in evaluator.requests(s, g)]

    with FakeOpenAIServer(responder=geneval_pp_reply, latency=args.latency) as server:
        def our_run():
            judge = JUDGES.get("openai")("fake-judge", {
                "base_url": server.base_url, "cache_dir": str(work / "cache"),
                "concurrency": args.concurrency, "api_key_env": "ECHO4O_BENCH_KEY"})
            start = time.perf_counter()
            judgements = judge.judge(requests)
            elapsed = time.perf_counter() - start
            assert all(j.status is Status.OK for j in judgements)
            return elapsed, judge.engine.totals["calls"]

        ours, ours_calls = our_run()

        client = OpenAI(api_key="unused", base_url=server.base_url, max_retries=0)
        subset = requests[: args.sequential]
        start = time.perf_counter()
        for request in subset:  # the official pattern: encode, call, parse, next
            mime, data = encode_image(request.images[0])
            client.chat.completions.create(
                model="fake-judge", messages=build_messages(request, [data_url(mime, data)]),
                max_tokens=200, temperature=0.0)
        per_call = (time.perf_counter() - start) / len(subset)
        sequential = per_call * len(requests)

        server.reset()
        cached, cached_calls = our_run()
        server_calls = server.count()

    print(f"fake server latency: {args.latency:.2f} s per reply; {len(requests)} GenEval++ samples")
    print(f"ours (concurrency {args.concurrency}, empty cache): {ours:.1f} s, {ours_calls} API calls")
    print(f"sequential loop like the official script: {per_call:.2f} s/call measured over "
          f"{len(subset)} calls, extrapolated to {len(requests)}: {sequential:.1f} s")
    print(f"speed-up: {sequential / ours:.1f}x")
    print(f"second run from cache: {cached:.2f} s, {cached_calls} API calls "
          f"({server_calls} requests reached the server)")


if __name__ == "__main__":
    main()
