"""Speed of intervals and of the report on a GenEval-sized run (553 prompts x 4 = 2,212 images).

Measured side by side in one process, on a run written by the tests' fixtures (solid-colour PNG
images of ``--px`` pixels; detector-style scores):

1. intervals: the package's jackknife (``confidence_intervals``) vs the earlier clustered
   bootstrap with 1000 resamples and images resampled within prompts (``--n-boot``);
2. the report: the first build (thumbnails made in parallel) and a second build of the same
   run into the same folder (thumbnails reused by image hash and size), in process;
3. the whole ``echo4o-eval report RUN -o DIR`` command a user runs (a new process: imports,
   reading the run, building the page), for a fresh folder and again with its thumbnails in place.

Targets (issue 11): intervals <= 2 s; second report build <= 5 s.
Run: ``python bench/report_speed.py [--px 512] [--n-boot 1000] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def timed(call) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``call()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--px", type=int, default=512, help="image size of the generated run")
    parser.add_argument("--n-boot", type=int, default=1000, help="resamples of the old bootstrap (0: skip)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run and report here")
    args = parser.parse_args(argv)

    from runfixtures import make_samples, verdicts, write_run

    from echo4o_eval.benchmarks.geneval.detector import GenEvalEvaluator
    from echo4o_eval.report.html import build_report
    from echo4o_eval.report.runs import load_view
    from echo4o_eval.statistics.bootstrap import confidence_intervals as bootstrap_intervals
    from echo4o_eval.statistics.jackknife import confidence_intervals

    work = args.keep or Path(tempfile.mkdtemp(prefix="report-speed-"))
    samples = make_samples(553)
    start = time.perf_counter()
    run = work / "run"
    if not (run / "result.json").exists():  # --keep DIR reuses the run written earlier
        write_run(run, samples, verdicts(samples, images=4, seed=1), "bench-model", images=4,
                  image_px=args.px, n_boot=0)
    print(f"run of {len(samples) * 4} images of {args.px} px ready in {time.perf_counter() - start:.1f} s")
    print("times: wall (CPU of this process, all threads); the CPU time shows what a loaded machine hides")
    view = load_view(run)
    aggregate = GenEvalEvaluator({"mode": "default"}).aggregate
    point = aggregate(view.samples, view.scores)

    jack, jack_cpu = timed(lambda: confidence_intervals(aggregate, view.samples, view.scores, point))
    print(f"intervals, jackknife over prompts (50 groups): {jack:.2f} s ({jack_cpu:.2f} s CPU) (target <= 2 s)")
    if args.n_boot:
        boot, boot_cpu = timed(lambda: bootstrap_intervals(aggregate, view.samples, view.scores, point,
                                                           n_boot=args.n_boot, resample_images=True))
        print(f"intervals, earlier bootstrap ({args.n_boot} resamples, images within prompts): {boot:.2f} s "
              f"({boot_cpu:.2f} s CPU); ratio {boot / jack:.1f}x")

    out = work / "report"
    shutil.rmtree(out, ignore_errors=True)
    first, first_cpu = timed(lambda: build_report([view], out, published=False))
    second, second_cpu = timed(lambda: build_report([load_view(run)], out, published=False))
    print(f"report, first build (thumbnails made in parallel): {first:.2f} s ({first_cpu:.2f} s CPU)")
    print(f"report, second build (thumbnails reused; includes reading the run): {second:.2f} s "
          f"({second_cpu:.2f} s CPU) (target <= 5 s); ratio {first / second:.1f}x")
    command = [sys.executable, "-m", "echo4o_eval", "report", str(run), "-o", str(work / "report-cli"),
               "--no-published"]
    shutil.rmtree(work / "report-cli", ignore_errors=True)
    cli_first, _ = timed(lambda: subprocess.run(command, check=True, capture_output=True))
    cli_second, _ = timed(lambda: subprocess.run(command, check=True, capture_output=True))
    print(f"whole `echo4o-eval report` command: fresh folder {cli_first:.2f} s, second build {cli_second:.2f} s "
          f"(target <= 5 s)")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
