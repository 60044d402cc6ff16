"""Examples shown at the end of each command's ``--help`` (click epilogs).

Every option an example uses is checked against the command's real options by
tests/test_cli_help.py, so the examples stay true to the CLI.

Example:
    >>> "echo4o-eval run" in EXAMPLES["run"]
    True
"""

from __future__ import annotations

EXAMPLES = {
    "run": """
  echo4o-eval run -b geneval_pp -m folder:imgs/                   # your images, GPT-4.1 judge (OPENAI_API_KEY)
  echo4o-eval run -b geneval_pp -m folder:imgs/ --mode parity     # the paper's GenEval++ protocol
  echo4o-eval run -b geneval_pp -m folder:imgs/ -j mask2former-clip   # offline detector judge, no API cost
  echo4o-eval run -b geneval --variant long -m echo4o             # Echo-4o from the Hub, Bagel's long prompts
  echo4o-eval run -b geneval -m diffusers:stabilityai/stable-diffusion-3-medium-diffusers --model-option device=cuda
  echo4o-eval run -b imagine_bench -m folder:imgs/ -j openai:Qwen2.5-VL-72B-Instruct --judge-base-url http://localhost:8000/v1
  echo4o-eval run -b geneval -m diffusers:PATH --limit 20 --print-config   # show the settings, run nothing
  The paper's exact settings per benchmark: docs/reproduce_paper.md""",
    "score": """
  echo4o-eval score -b geneval -m folder:geneval_images/ -j mask2former-clip   # GenEval's <00000>/samples/ layout
  echo4o-eval score -b geneval_pp -m folder:out/ --mode parity       # Echo-4o's <line>.png layout, paper protocol
  echo4o-eval score -b dpg_bench -m folder:grids/ -j openai:gpt-4.1 --eval-option crops=4
  echo4o-eval score -b geneval_pp -m folder:out/ --min-coverage 0.95 -q   # CI: exit 3 below 95% scored""",
    "report": """
  echo4o-eval report runs/geneval/*/ -o reports/geneval           # one HTML + leaderboard.{json,csv,md,tex}
  echo4o-eval report runs/geneval/ckpt-100__mask2former-clip --baseline   # + reports/baselines/<run>.json
  echo4o-eval report echo4o-demo/runs/* -o reports/demo --no-published""",
    "compare": """
  echo4o-eval compare reports/baselines/ckpt-100__mask2former-clip.json runs/geneval/ckpt-200__mask2former-clip
  echo4o-eval compare runs/geneval/A runs/geneval/B --max-drop 0.01 --format github --summary-file "$GITHUB_STEP_SUMMARY\"""",
    "data": """
  echo4o-eval data fetch geneval geneval_pp                      # download + sha256-check the official files
  echo4o-eval data path geneval                                  # where each file is read from
  echo4o-eval data verify --data-dir ../shared/benchmarks        # check a local copy
  Offline: point any command at a local copy with --data-dir DIR or ECHO4O_DATA_DIR=DIR.""",
    "validate": """
  echo4o-eval validate                                           # every benchmark: spec, files, samples
  echo4o-eval validate --offline geneval                         # no downloads
  echo4o-eval validate --strict --data-dir ../shared/benchmarks  # user-provided data required too""",
    "ls": """
  echo4o-eval ls
  echo4o-eval ls --json""",
}


def with_examples(name: str, epilog: str | None) -> str:
    """``epilog`` preceded by the examples of command ``name`` (click's ``\\b`` keeps the lines)."""
    examples = "\b\nExamples:" + EXAMPLES[name]
    return examples + ("\n\n" + epilog if epilog else "")
