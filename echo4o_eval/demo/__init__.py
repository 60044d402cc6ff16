"""``echo4o-eval demo``: the whole pipeline end to end, offline, on a CPU, in about a minute.

Tiny random-weight models are built on the fly (:mod:`.tiny_models`), the demo's own prompts
are written in the official formats (:mod:`.prompts`), a scripted OpenAI-compatible judge
serves on 127.0.0.1 (:mod:`.local_judge`), and :mod:`.run` makes three real runs and an HTML
report. The scores are meaningless; the pipeline is real. ``--real`` swaps in small real
checkpoints from the Hub (:mod:`.real_models`). Importing this package loads no torch.

Example::

    from echo4o_eval.demo import run_demo
    print(run_demo(Path("echo4o-demo")).report)
"""

from echo4o_eval.demo.run import DemoError, DemoResult, run_demo

__all__ = ["DemoError", "DemoResult", "run_demo"]
