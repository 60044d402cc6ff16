"""What a training run tells the user: the append-only ``train_log.jsonl``, trackers and MFU.

``train_log.jsonl`` gets one line per optimiser step (step, loss, lr, grad_norm, samples/s,
MFU on GPU) and one per in-loop evaluation (``"type": "eval"``); a resumed run appends, and
:func:`read_log` keeps the last line per (type, step). TensorBoard is used when installed,
W&B too when installed (``run.report_to``).

Example:
    >>> peak_flops("NVIDIA H100 80GB HBM3") / 1e12
    989.0
    >>> peak_flops("Some CPU") is None
    True
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["peak_flops", "trackers", "append_record", "read_log", "model_flops_utilisation"]

# Dense bf16 peak (FLOP/s) per GPU, from the vendors' data sheets (without sparsity).
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "H800": 989e12, "A100": 312e12, "A800": 312e12,
             "L40S": 362e12, "L40": 181e12, "A6000": 155e12, "4090": 165e12, "A10": 125e12}


def peak_flops(device_name: str, configured_tflops: float | None = None) -> float | None:
    """Peak bf16 FLOP/s of a GPU by its name (or the configured TFLOP/s); None when unknown."""
    if configured_tflops:
        return configured_tflops * 1e12
    for key, value in PEAK_BF16.items():
        if key in device_name:
            return value
    return None


def model_flops_utilisation(parameters: int, tokens_per_sample: int, samples_per_second: float,
                            peak: float | None, processes: int) -> float | None:
    """6 x parameters x tokens per sample x samples/s over the processes' peak (None when unknown).

    >>> round(model_flops_utilisation(10**9, 1000, 10.0, 1e14, 1), 2)
    0.6
    """
    if not peak:
        return None
    return 6.0 * parameters * tokens_per_sample * samples_per_second / (peak * processes)


def trackers(report_to: str) -> list[str]:
    """accelerate tracker names for ``run.report_to`` given what is installed."""
    installed = {name: importlib.util.find_spec(module) is not None
                 for name, module in (("tensorboard", "tensorboard"), ("wandb", "wandb"))}
    if report_to == "none":
        return []
    if report_to == "auto":
        return [name for name, ok in installed.items() if ok]
    if not installed[report_to]:
        raise RuntimeError(f"run.report_to={report_to} but {report_to} is not installed (pip install {report_to})")
    return [report_to]


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and fsync (a killed run keeps every finished line)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_log(path: str | Path, kind: str = "train") -> list[dict[str, Any]]:
    """The records of one type, the last per step, in step order (skips a torn last line)."""
    found: dict[int, dict[str, Any]] = {}
    file = Path(path)
    if not file.is_file():
        return []
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("type", "train") == kind:
            found[record["step"]] = record
    return [found[k] for k in sorted(found)]
