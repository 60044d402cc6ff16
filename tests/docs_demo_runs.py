"""Run directories at the paths docs/reports.md uses, so its examples can be run (and are, by
tests/test_docs_reports.py). Build them in the current folder with
``python tests/docs_demo_runs.py`` (needs ECHO4O_DATA_DIR for the annotated GenEval run)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from runfixtures import jitter, make_samples, verdicts, worsen, write_run  # noqa: E402

from echo4o_eval.statistics.agreement import human_verdicts  # noqa: E402
from echo4o_eval.records.types import Sample  # noqa: E402


def build(root: Path, data_dir: Path) -> None:
    runs = root / "runs" / "geneval"
    samples = make_samples(90)
    base = verdicts(samples, images=4, seed=11)
    write_run(runs / "ckpt-100__mask2former-clip", samples, base, "ckpt-100", images=4, image_px=48)
    write_run(runs / "ckpt-200__mask2former-clip", samples, worsen(base, 0.25, seed=12), "ckpt-200",
              images=4, image_px=48, created="2026-11-28T11:00:00+00:00")
    write_run(runs / "ckpt-300__mask2former-clip", samples, jitter(base, 0.05, seed=13), "ckpt-300",
              images=4, image_px=48, created="2026-11-28T12:00:00+00:00")
    write_run(runs / "ckpt-100__owlv2-clip", samples, jitter(base, 0.15, seed=14), "ckpt-100",
              images=4, image_px=48, judge="owlv2-clip")
    metadata = [json.loads(line) for line in
                (data_dir / "geneval" / "evaluation_metadata.jsonl").read_text().splitlines() if line]
    humans = human_verdicts(data_dir / "geneval" / "annotations" / "annotations_sdv2.csv", metadata)
    prompts = sorted({p for p, _ in humans})
    annotated = [Sample(f"{p:05d}", p, metadata[p]["prompt"], metadata[p]["tag"], metadata[p]) for p in prompts]
    judged = {(f"{p:05d}", i): humans[(p, i)] ^ ((p + i) % 7 == 0) for p in prompts for i in range(4)}
    write_run(runs / "sdv2-images__mask2former-clip", annotated, judged, "folder:sdv2-images", images=4)


if __name__ == "__main__":
    build(Path.cwd(), Path(os.environ["ECHO4O_DATA_DIR"]))
