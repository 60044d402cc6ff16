"""A generating model and an API judge: judging while the model generates versus judging after
it, measured side by side.

The model stands in for a GPU generator: each batch of ``--batch`` images takes ``--gen-s``
seconds (a sleep, which releases the interpreter as a CUDA call does) and writes small PNGs.
The judge is the OpenAI judge against the test suite's fake server (GenEval++ replies,
``--latency`` seconds each, ``--concurrency`` requests in flight), with a fresh response cache
for every run. Each round runs ``echo4o_eval.run`` twice over ``--samples`` GenEval++ samples,
once as users get it (a streaming judge: each model batch is judged as soon as it is recorded)
and once with the same judge seen through a wrapper that hides ``judge_stream`` (the runner then
generates every image first and judges afterwards, as it did for every judge before). Rounds
alternate the order, so both see the same machine state. Prints both times, the ratio and the
ideal (the longer of generating and judging alone, plus one reply's latency).

    python bench/overlap_throughput.py                      # 160 samples, 20 batches of 8
    python bench/overlap_throughput.py --gen-s 1 --latency 3 --rounds 1

Needs the official GenEval++ file (ECHO4O_DATA_DIR, default ../shared/benchmarks). Not a test:
numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the fake server lives with the tests

from fake_judge_replies import geneval_pp_reply  # noqa: E402
from fake_openai_server import FakeOpenAIServer  # noqa: E402


class SleepingModel:
    """Stands in for a GPU generator: ``seconds`` per batch, then small PNGs."""

    generates = True

    def __init__(self, batch_size: int, seconds: float) -> None:
        self.id, self.batch_size, self.seconds = "sleeping-model", batch_size, seconds

    def generate(self, requests):
        from PIL import Image

        from echo4o_eval.records.types import Generation, Status

        time.sleep(self.seconds)
        out = []
        for r in requests:
            Path(r.output_path).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (64, 64), (r.seed % 256, 90, 40)).save(r.output_path)
            out.append(Generation(r.sample_id, r.image_index, r.seed, Status.OK, image_path=r.output_path))
        return out

    def describe(self):
        return {"type": "sleeping-model", "seconds_per_batch": self.seconds}

    def close(self):
        pass


class AfterGeneration:
    """The same judge without ``judge_stream``: the runner judges once every image exists."""

    def __init__(self, judge) -> None:
        self._judge = judge
        self.id, self.kind = judge.id, judge.kind

    def judge(self, requests):
        return self._judge.judge(requests)

    def describe(self):
        return self._judge.describe()

    def close(self):
        self._judge.close()


def one_run(args, server, work: Path, name: str, overlapped: bool) -> float:
    from echo4o_eval.judges.openai_judge import OpenAIJudge
    from echo4o_eval.runner import RunConfig, run

    judge = OpenAIJudge("fake-judge", {"base_url": server.base_url, "api_key_env": "ECHO4O_BENCH_KEY",
                                       "concurrency": args.concurrency, "cache_dir": str(work / f"cache-{name}")})
    config = RunConfig(benchmark="geneval_pp", model="sleeping-model", judge="openai:fake-judge",
                       run_dir=str(work / f"run-{name}"), data_dir=str(data_dir()), allow_download=False,
                       limit=args.samples, n_bootstrap=0, progress=False, model_id="sleeping-model",
                       judge_batch_size=args.samples)  # the wrapped judge gets every image at once
    before = server.count()
    started = time.perf_counter()
    try:
        outcome = run(config, model=SleepingModel(args.batch, args.gen_s),
                      judge=judge if overlapped else AfterGeneration(judge))
    finally:
        judge.close()
    seconds = time.perf_counter() - started
    calls = server.count() - before
    if outcome.status_counts != {"ok": args.samples} or calls != args.samples:
        raise SystemExit(f"{name}: unexpected outcome {outcome.status_counts}, {calls} calls")
    return seconds


def data_dir() -> Path:
    return Path(os.environ.get("ECHO4O_DATA_DIR") or REPO.parent / "shared" / "benchmarks")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=160, help="GenEval++ samples, one image each")
    parser.add_argument("--batch", type=int, default=8, help="images per model batch")
    parser.add_argument("--gen-s", type=float, default=0.5, help="seconds per model batch")
    parser.add_argument("--latency", type=float, default=1.5, help="seconds per judge reply")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    import echo4o_eval

    generating = -(-args.samples // args.batch) * args.gen_s
    judging = -(-args.samples // args.concurrency) * args.latency
    ideal = max(generating, judging) + args.latency
    print(f"echo4o_eval from {Path(echo4o_eval.__file__).parent}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{args.samples} images: generating alone {generating:.1f} s ({args.batch} a batch, "
          f"{args.gen_s} s each), judging alone {judging:.1f} s (latency {args.latency} s, "
          f"concurrency {args.concurrency}); ideal overlapped {ideal:.1f} s, one after the other "
          f"{generating + judging:.1f} s")
    times: dict[str, list[float]] = {"overlapped": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer(responder=geneval_pp_reply,
                                                                latency=args.latency) as server:
        for round_ in range(args.rounds):
            order = ("overlapped", "after") if round_ % 2 == 0 else ("after", "overlapped")
            for name in order:
                seconds = one_run(args, server, Path(tmp), f"{name}-{round_}", name == "overlapped")
                times[name].append(seconds)
                print(f"  round {round_ + 1}, {name}: {seconds:.1f} s (load {os.getloadavg()[0]:.2f})")
    overlapped, after = statistics.median(times["overlapped"]), statistics.median(times["after"])
    print(f"judging while generating: {overlapped:.1f} s (ideal {ideal:.1f} s, ratio {overlapped / ideal:.2f}); "
          f"judging after generating: {after:.1f} s; speed-up {after / overlapped:.2f}x")


if __name__ == "__main__":
    main()
