"""The demo: three real runs (GenEval, GenEval++ with the detector judge, GenEval++ with a VLM
judge over HTTP) and an HTML report, offline on a CPU in about a minute.

What is real: the ``diffusers:`` model adapter loading a pipeline from disk, the
``mask2former-clip`` detector judge (transformers Mask2Former + open_clip CLIP), the ``openai:``
judge with its API engine talking HTTP to a local server, the GenEval/GenEval++ loaders,
checklists and scoring rules, the run store, bootstrap CIs and the report. What is not: the
models have random weights (:mod:`echo4o_eval.demo.tiny_models`), the VLM judge's verdicts are
scripted (:mod:`echo4o_eval.demo.local_judge`) and the prompts are the demo's own
(:mod:`echo4o_eval.demo.prompts`). The scores are therefore meaningless; every number is
reproducible (fixed seeds), which lets CI compare the demo with ``reports/baselines/demo``.

Example (what ``echo4o-eval demo --out D`` does)::

    from echo4o_eval.demo.run import run_demo
    result = run_demo(Path("D"))
    print(result.report)          # D/report/index.html
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

MARKER = ".echo4o-demo"  # marks a folder the demo made (and may therefore replace)
DISCLAIMER = ("The models have random weights and the VLM judge's answers are scripted: the scores "
              "are meaningless. The pipeline is real: the same loaders, judges, scoring rules, "
              "run store and report as `echo4o-eval run`.")
JUDGE_KEY_ENV = "ECHO4O_DEMO_JUDGE_KEY"  # the local judge needs no key; a dedicated name keeps OPENAI_API_KEY unsent


@dataclass(frozen=True)
class DemoRun:
    """One run of the demo."""

    name: str  # run directory name under <out>/runs
    benchmark: str
    judge: str  # "detector" (mask2former-clip) or "vlm" (openai: against the local server)
    images_per_prompt: int


DEMO_RUNS = (
    DemoRun("geneval__mask2former-clip", "geneval", "detector", 2),
    DemoRun("geneval_pp__mask2former-clip", "geneval_pp", "detector", 1),
    DemoRun("geneval_pp__local-vlm-judge", "geneval_pp", "vlm", 1),
)
N_BOOTSTRAP = 200


@dataclass
class DemoResult:
    """What the demo produced."""

    out_dir: Path
    run_dirs: list[Path]
    report: Path  # index.html
    outcomes: list = field(default_factory=list)  # RunOutcome per run, in DEMO_RUNS order
    judge_calls: int = 0  # completions the local judge server answered


class DemoError(RuntimeError):
    """The demo cannot run (output folder in use, missing extra, no network for --real)."""


def prepare_out_dir(out_dir: Path) -> Path:
    """Create ``out_dir`` empty; a folder an earlier demo made is replaced, any other non-empty
    folder is refused (the demo never deletes what it did not write)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).is_file():
            raise DemoError(f"{out_dir} exists and was not made by `echo4o-eval demo`; "
                            "choose another folder with --out")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("made by `echo4o-eval demo`; it replaces this folder on its next run\n")
    return out_dir


def _run_config(run: DemoRun, models, data_dir: Path, out_dir: Path, judge_url: str, progress: bool):
    from echo4o_eval.demo.local_judge import MODEL_NAME
    from echo4o_eval.demo.prompts import demo_benchmark
    from echo4o_eval.runner import RunConfig

    if run.judge == "detector":
        judge = "mask2former-clip"
        judge_options = {"detector_model": str(models.detector), "clip_model": str(models.clip_config),
                         "clip_pretrained": str(models.clip_weights), "device": models.device}
        judge_options.update(models.detector_options)
    else:
        judge = f"openai:{MODEL_NAME}"
        judge_options = {"base_url": judge_url, "api_key_env": JUDGE_KEY_ENV, "concurrency": 4,
                         "cache_dir": str(out_dir / "api-cache"), "max_retries": 1}
    return RunConfig(
        benchmark=demo_benchmark(run.benchmark, data_dir), model=f"diffusers:{models.generator}",
        judge=judge, run_dir=str(out_dir / "runs" / run.name), data_dir=str(data_dir),
        allow_download=False, images_per_prompt=run.images_per_prompt,
        model_options=dict(models.generation_options), judge_options=judge_options, model_id=models.model_id,
        n_bootstrap=N_BOOTSTRAP, progress=progress,
    )


def run_demo(out_dir: Path, *, real: bool = False, progress: bool = True,
             echo: Callable[[str], None] = print) -> DemoResult:
    """Build (or, with ``real``, download) the models, run DEMO_RUNS into ``out_dir/runs`` and
    write ``out_dir/report/index.html``; ``echo`` receives one line per step."""
    from echo4o_eval.demo.local_judge import LocalJudgeServer
    from echo4o_eval.demo.prompts import GENEVAL_PP_PROMPTS, GENEVAL_PROMPTS, write_prompt_files
    from echo4o_eval.runner import run

    if real:
        from echo4o_eval.demo.real_models import fetch_real_models

        echo("downloading the real checkpoints (see `echo4o-eval demo --help`)")
        models = fetch_real_models()
    out_dir = prepare_out_dir(out_dir)
    if not real:
        from echo4o_eval.demo.tiny_models import save_tiny_models

        echo("building tiny random-weight models (SD3 pipeline, Mask2Former, CLIP)")
        models = _TinyModels(save_tiny_models(out_dir / "models"))
    data_dir = write_prompt_files(out_dir / "data")
    echo(f"prompts: the demo's own, written in the official formats ({len(GENEVAL_PROMPTS)} GenEval, "
         f"{len(GENEVAL_PP_PROMPTS)} GenEval++); the official prompt files are not used, so nothing is downloaded")
    os.environ.setdefault(JUDGE_KEY_ENV, "demo-key-not-secret")
    result = DemoResult(out_dir, [], out_dir / "report" / "index.html")
    with LocalJudgeServer() as server:
        for demo_run in DEMO_RUNS:
            echo(f"run {demo_run.name}: {demo_run.benchmark}, judge "
                 f"{'mask2former-clip' if demo_run.judge == 'detector' else 'openai: at ' + server.base_url}")
            outcome = run(_run_config(demo_run, models, data_dir, out_dir, server.base_url, progress))
            result.outcomes.append(outcome)
            result.run_dirs.append(Path(outcome.run_dir))
        result.judge_calls = server.calls
    from echo4o_eval.report.html import build_report
    from echo4o_eval.report.runs import load_view

    result.report = build_report([load_view(p) for p in result.run_dirs], out_dir / "report", published=False,
                                 title="echo4o-eval demo (meaningless scores, real pipeline)")
    return result


class _TinyModels:
    """The tiny models' paths plus the settings the runs pass with them."""

    device = "cpu"
    model_id = "tiny-random-sd3"  # names the weights in manifests and the report
    # A random detector's scores sit far below GenEval's 0.3 threshold; keep every detection so
    # the rules have something to count (meaningless, but it exercises the scoring paths).
    detector_options = {"min_score": 0, "color_min_score": 0}

    def __init__(self, paths) -> None:
        from echo4o_eval.demo.tiny_models import GENERATION_OPTIONS

        self.generator, self.detector = paths.generator, paths.detector
        self.clip_config, self.clip_weights = paths.clip_config, paths.clip_weights
        self.generation_options = GENERATION_OPTIONS
