"""Scale of the synth pipeline on synthetic data, each figure measured side by side in one run.

``dedupe``    near-duplicate search over ``--hashes`` (100,000) 64-bit perceptual hashes, with
              ``--near-copies`` of them perturbed by 0-6 bits: multi-index hashing
              (data_gen.dedupe.find_duplicates) vs an all-pairs baseline vectorised with numpy
              (the same keep-first answer, checked equal), plus the pure-Python all-pairs loop on
              ``--python-sample`` hashes beside multi-index hashing on the same sample.
``export``    Bagel parquet + OmniGen2 jsonl export of ``--samples`` (50,000) small samples
              (32 px PNGs, sharded folders, records written and indexed beforehand, as a run
              leaves them), timed in a child process: samples/s and peak RSS of the export.
``generate``  ``synth generate`` through the image API adapter against the fake server at
              ``--latency`` (1.5 s) per request: ``--images`` (64) images at concurrency
              ``--concurrency`` (32) vs a sequential generator (concurrency 1, batch 1) on
              ``--sequential`` (4) images; throughput ratio.

Run: ``python bench/synth_scale.py [--scenarios dedupe,export,generate]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the fake server and scripted replies live with the tests


def dedupe(args) -> None:
    import numpy as np

    from echo4o_eval.data_gen.dedupe import all_pairs_duplicates, find_duplicates

    rng = random.Random(0)
    hashes = [rng.getrandbits(64) for _ in range(args.hashes - args.near_copies)]
    for _ in range(args.near_copies):
        value = rng.choice(hashes)
        for bit in rng.sample(range(64), rng.randint(0, 6)):
            value ^= 1 << bit
        hashes.insert(rng.randrange(len(hashes)), value)
    distance = args.distance

    start = time.perf_counter()
    ours = find_duplicates(hashes, distance)
    ours_s = time.perf_counter() - start

    values = np.array(hashes, dtype=np.uint64)
    start = time.perf_counter()
    kept = np.empty(len(values), dtype=np.uint64)
    owners = np.empty(len(values), dtype=np.int64)
    n_kept, baseline = 0, {}
    for position, value in enumerate(values):
        gaps = np.bitwise_count(kept[:n_kept] ^ value)
        hit = np.flatnonzero(gaps <= distance)
        if hit.size:
            baseline[position] = (int(owners[hit[0]]), int(gaps[hit[0]]))
        else:
            kept[n_kept], owners[n_kept] = value, position
            n_kept += 1
    baseline_s = time.perf_counter() - start
    assert baseline == ours, "multi-index hashing and all-pairs disagree"

    sample = hashes[: args.python_sample]
    start = time.perf_counter()
    small_ours = find_duplicates(sample, distance)
    small_ours_s = time.perf_counter() - start
    start = time.perf_counter()
    small_pairs = all_pairs_duplicates(sample, distance)
    small_pairs_s = time.perf_counter() - start
    assert small_ours == small_pairs
    print(f"dedupe: {len(hashes)} hashes, distance {distance}, {len(ours)} duplicates found")
    print(f"  multi-index hashing {ours_s:.2f} s | all-pairs (numpy) {baseline_s:.2f} s | "
          f"ratio {baseline_s / ours_s:.1f}x")
    print(f"  on {len(sample)} hashes: multi-index {small_ours_s:.3f} s | all-pairs (Python loop) "
          f"{small_pairs_s:.2f} s | ratio {small_pairs_s / small_ours_s:.0f}x")


def _write_samples(work: Path, count: int) -> None:
    """A work dir as a finished run leaves it: images in sharded folders, four record files."""
    from PIL import Image

    from echo4o_eval.data_gen.generate import image_path
    from echo4o_eval.data_gen.records import RecordStore

    records = work / "records"
    records.mkdir(parents=True)
    handles = {stage: open(records / f"{stage}-rank0.jsonl", "w") for stage in ("plan", "generate", "check", "filter")}
    rng = random.Random(0)
    for index in range(count):
        subset = ("fantasy", "instruction", "multi_reference")[index % 3]
        sid = f"{subset}-{index:06d}"
        path = image_path(work, subset, sid)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        Image.new("RGB", (32, 32), (rng.randrange(256), rng.randrange(256), rng.randrange(256))).save(buffer, "PNG")
        Path(path).write_bytes(buffer.getvalue())
        refs = [image_path(work, "fantasy", f"fantasy-{(index + k) % count // 3 * 3:06d}") for k in (1, 2)] \
            if subset == "multi_reference" else []
        prompt = f"sample {index} with a few words of prompt text"
        rows = {
            "plan": {"id": sid, "subset": subset, "task": "edit" if refs else "t2i", "status": "ok",
                     "prompt": prompt, "spec": {"n": index}, "references": refs, "note": {}},
            "generate": {"id": sid, "subset": subset, "status": "ok", "image_path": path, "paid": True,
                         "cost_usd": 0.01, "references": refs},
            "check": {"id": sid, "subset": subset, "status": "kept", "verdict": "aligned",
                      "prompt": prompt, "original_prompt": prompt, "reason": "ok"},
            "filter": {"id": sid, "subset": subset, "status": "kept", "reason": None},
        }
        for stage, row in rows.items():
            handles[stage].write(json.dumps(row) + "\n")
    for handle in handles.values():
        handle.close()
    store = RecordStore(work)
    for stage in handles:
        store.refresh(stage)
    store.close()


def export(args) -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder) / "work"
        start = time.perf_counter()
        _write_samples(work, args.samples)
        setup_s = time.perf_counter() - start
        child = subprocess.run([sys.executable, __file__, "--export-child", str(work)], check=True,
                               capture_output=True, text=True, cwd=REPO)
        result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"export: {args.samples} samples (setup {setup_s:.1f} s): {result['seconds']:.1f} s, "
          f"{args.samples / result['seconds']:.0f} samples/s, peak RSS {result['peak_rss_mb']:.0f} MB "
          f"(before export {result['start_rss_mb']:.0f} MB); rows {result['rows']}")


def export_child(work: str) -> None:
    from echo4o_eval.data_gen.config import load_synth_config
    from echo4o_eval.data_gen.export import run_export

    config = load_synth_config(None, [f"work_dir={work}", "export.formats=[bagel, omnigen2]"])
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    summary = run_export(config)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "start_rss_mb": start_rss,
                      "rows": summary["bagel"]["rows"]}))


def generate(args) -> None:
    from echo4o_eval.data_gen.config import load_synth_config
    from echo4o_eval.data_gen.generate import run_generate
    from echo4o_eval.data_gen.plan import run_plan
    from echo4o_eval.data_gen.records import RecordStore
    from fake_openai_server import FakeOpenAIServer
    from synth_fakes import patterned_png

    def timed(server, images: int, concurrency: int, batch: int) -> float:
        with tempfile.TemporaryDirectory() as folder:
            config = load_synth_config(None, [
                f"work_dir={folder}", f"plan.fantasy.count={images}", "generate.model=openai:gpt-image-1",
                f"generate.batch_size={batch}",
                f"generate.options={{base_url: '{server.base_url}', concurrency: {concurrency}}}"])
            run_plan(config, RecordStore(config.work_dir))
            start = time.perf_counter()
            summary = run_generate(config)
            seconds = time.perf_counter() - start
            assert summary["by_status"] == {"ok": images}, summary
            return seconds

    import openai  # noqa: F401 - imported before timing: start-up is not throughput

    with FakeOpenAIServer(image_maker=patterned_png, latency=args.latency) as server:
        timed(server, 1, 1, 1)  # warm-up: the client's first request
        concurrent_s = timed(server, args.images, args.concurrency, 2 * args.concurrency)
        sequential_s = timed(server, args.sequential, 1, 1)
    ours, sequential = args.images / concurrent_s, args.sequential / sequential_s
    print(f"generate: latency {args.latency} s | concurrent ({args.concurrency}) {args.images} images "
          f"in {concurrent_s:.1f} s = {ours:.2f} images/s | sequential {args.sequential} images in "
          f"{sequential_s:.1f} s = {sequential:.2f} images/s | ratio {ours / sequential:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="dedupe,export,generate")
    parser.add_argument("--hashes", type=int, default=100_000)
    parser.add_argument("--near-copies", type=int, default=5_000)
    parser.add_argument("--distance", type=int, default=4)
    parser.add_argument("--python-sample", type=int, default=5_000)
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--latency", type=float, default=1.5)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=4)
    parser.add_argument("--export-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        return export_child(args.export_child)
    os.environ.setdefault("SYNTH_BENCH", "1")
    for name in args.scenarios.split(","):
        {"dedupe": dedupe, "export": export, "generate": generate}[name.strip()](args)


if __name__ == "__main__":
    main()
