"""``synth all``: every stage in order, each resuming from its own records.

Under torchrun/accelerate every rank generates its shard; rank 0 alone runs the other stages
(they are API-bound or local and cheap) after the ranks meet at a barrier.

Example:
    >>> import tempfile
    >>> from echo4o_eval.data_gen.config import load_synth_config
    >>> config = load_synth_config(None, [f"work_dir={tempfile.mkdtemp()}"])
    >>> [stage for stage, _ in run_all(config, stages=("plan",))]
    ['plan']
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from echo4o_eval import distributed
from echo4o_eval.data_gen.config import SynthConfig

STAGES = ("plan", "generate", "check", "filter", "export")


def run_all(config: SynthConfig, stages: Sequence[str] = STAGES, model=None) -> Iterator[tuple[str, Any]]:
    """Yield ``(stage, summary)`` as each stage finishes; generation stops the chain only on error."""
    from echo4o_eval.data_gen.check import run_check
    from echo4o_eval.data_gen.export import run_export
    from echo4o_eval.data_gen.filter import run_filter
    from echo4o_eval.data_gen.generate import run_generate
    from echo4o_eval.data_gen.plan import run_plan
    from echo4o_eval.data_gen.records import RecordStore

    info = distributed.rank_info()
    if "plan" in stages:
        if info.is_main:
            store = RecordStore(config.work_dir)
            try:
                yield "plan", run_plan(config, store)
            finally:
                store.close()
        distributed.barrier(config.work_dir, info, "planned")
    if "generate" in stages:
        yield "generate", run_generate(config, model=model)
        distributed.barrier(config.work_dir, info, "generated")
    if not info.is_main:
        return
    if "check" in stages:
        yield "check", run_check(config)
    if "filter" in stages:
        yield "filter", run_filter(config)
    if "export" in stages:
        yield "export", run_export(config)
