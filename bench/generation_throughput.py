"""Images per second of batched diffusers generation versus batch size 1, measured side by side.

Runs the real adapter (``echo4o_eval.models.diffusers_model.DiffusersModel``) over one pipeline
object, alternating rounds of batch size 1 and batch size B so both see the same machine state,
and prints images/s for each and the ratio batched / batch-1. Not a test: numbers depend on the
machine.

    python bench/generation_throughput.py                     # tiny random SD3, 64x64, CPU
    python bench/generation_throughput.py --batch 8 --images 32
    python bench/generation_throughput.py --real-size         # SD3-Medium-sized random weights,
                                                              # 1024x1024, bf16, on cuda

``--real-size`` builds the pipeline from tests/tiny_pipelines.py's ``build_real_size_sd3`` (random
weights at SD3 Medium's transformer/VAE sizes, one-layer text encoders); it needs a GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real-size", action="store_true", help="SD3-Medium-sized, cuda, bf16")
    parser.add_argument("--batch", type=int, default=4, help="batched size compared with 1")
    parser.add_argument("--images", type=int, default=None, help="images per round and size")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per size")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--size", type=int, default=None, help="image width = height")
    parser.add_argument("--device", default=None)
    return parser.parse_args(argv)


def build_model(args):
    import torch

    from echo4o_eval.models.diffusers_model import DiffusersModel
    from tests.tiny_pipelines import build_real_size_sd3, build_tiny_sd3

    if args.real_size:
        device = args.device or "cuda"
        pipeline = build_real_size_sd3(device=device)
        options = {"device": device, "dtype": "bfloat16", "width": args.size or 1024,
                   "height": args.size or 1024, "num_inference_steps": args.steps or 10,
                   "guidance_scale": 5.0}
        name = "random SD3-Medium-sized pipeline"
    else:
        device = args.device or "cpu"
        pipeline = build_tiny_sd3()
        options = {"device": device, "dtype": "float32", "width": args.size or 64,
                   "height": args.size or 64, "num_inference_steps": args.steps or 2,
                   "guidance_scale": 2.0}
        name = "tiny random SD3 pipeline"
    torch.set_grad_enabled(False)
    return DiffusersModel(name, options, pipeline=pipeline), options


def requests_for(count: int, folder: Path, offset: int):
    from echo4o_eval.records.types import GenerationRequest

    return [
        GenerationRequest(sample_id=str(offset + i), sample_index=offset + i, tag="bench",
                          prompt=f"a photo of object number {offset + i}", image_index=0,
                          seed=offset + i, output_path=str(folder / f"{offset + i}.png"),
                          params={"task": "text_to_image"})
        for i in range(count)
    ]


def timed_round(model, batch_size: int, count: int, folder: Path, offset: int) -> float:
    """Images per second for ``count`` images at ``batch_size`` (all must succeed)."""
    import torch

    model.batch_size = batch_size
    requests = requests_for(count, folder, offset)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    generations = []
    for start in range(0, count, batch_size):
        generations += model.generate(requests[start : start + batch_size])
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    failed = [g.error for g in generations if g.status.value != "ok"]
    if failed:
        raise SystemExit(f"generation failed at batch {batch_size}: {failed[0]}")
    return count / seconds


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    if args.real_size and not torch.cuda.is_available() and not args.device:
        raise SystemExit("--real-size needs a CUDA GPU (or pass --device cpu and be patient)")
    count = args.images or (8 if args.real_size else 16)
    count -= count % args.batch  # whole batches only, so both sizes make the same images
    if count <= 0:
        raise SystemExit(f"--images must be at least --batch ({args.batch})")
    model, options = build_model(args)
    sizes = (1, args.batch)
    results: dict[int, list[float]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:  # warm-up: first calls pay for kernels, caches, allocations
            timed_round(model, size, size, Path(folder), 10_000)
        for round_index in range(args.rounds):
            for size in sizes if round_index % 2 == 0 else sizes[::-1]:
                results[size].append(timed_round(model, size, count, Path(folder), 0))
    described = model.describe()
    print(f"pipeline: {model.source} ({described['pipeline']}), device {described['device']}, "
          f"dtype {described['dtype']}, {options['width']}x{options['height']}, "
          f"{options['num_inference_steps']} steps, guidance {options['guidance_scale']}")
    if torch.cuda.is_available() and described["device"].startswith("cuda"):
        print(f"gpu: {torch.cuda.get_device_name()}")
    print(f"{count} images per round, {args.rounds} alternating rounds per batch size "
          "(median shown, min..max in brackets)")
    for size in sizes:
        values = results[size]
        print(f"  batch {size:>3}: {statistics.median(values):8.2f} images/s "
              f"[{min(values):.2f}..{max(values):.2f}]")
    ratio = statistics.median(results[args.batch]) / statistics.median(results[1])
    print(f"ratio batch {args.batch} / batch 1: {ratio:.2f}x")


if __name__ == "__main__":
    main()
