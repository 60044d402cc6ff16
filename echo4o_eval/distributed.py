"""Rank information, sample sharding, a barrier and device choice for multi-process runs.

The toolkit has no launcher of its own: ``torchrun`` and ``accelerate launch`` start one process
per GPU and set ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them the run is a single
process (rank 0 of 1) and the same command works unchanged. The runner does::

    info = rank_info()
    my_items = shard(items, info.rank, info.world_size)
    ...                                   # generate/score, append to records-<rank>.jsonl
    barrier(run_dir, info, "generated")   # wait for every rank
    if info.is_main: ...                  # rank 0 merges and aggregates

``barrier`` uses ``torch.distributed`` when a process group is initialised (gloo or nccl) and
otherwise a file barrier in the run directory (shared filesystem across nodes), so no process
group is needed. Importing this module never imports torch.

Example:
    >>> info = rank_info({})
    >>> (info.rank, info.world_size, info.is_main)
    (0, 1, True)
    >>> shard(list("abcdefg"), rank=1, world_size=3)
    ['b', 'e']
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

T = TypeVar("T")


class DistributedError(RuntimeError):
    """Inconsistent launcher environment or a barrier that timed out."""


@dataclass(frozen=True)
class RankInfo:
    """Where this process sits in a (possibly single-process) launch."""

    rank: int  # global rank, 0..world_size-1
    world_size: int
    local_rank: int  # rank on this machine; picks the GPU
    launch_id: str = "single"  # same for every rank of one launch; names file barriers

    @property
    def is_main(self) -> bool:
        """True on rank 0."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def _int_env(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise DistributedError(f"environment variable {name}={value!r} is not an integer") from None


def _process_start_ticks(pid: int) -> str:
    """Start time of a process (Linux clock ticks since boot), '' where /proc is unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _launch_id(environ: Mapping[str, str], world_size: int, local_world_size: int | None) -> str:
    explicit = environ.get("ECHO4O_LAUNCH_ID")
    if explicit:
        return explicit
    parts = [environ.get("MASTER_ADDR", ""), environ.get("MASTER_PORT", "")]
    run_id = environ.get("TORCHELASTIC_RUN_ID", "")
    if run_id and run_id != "none":
        parts.append(run_id)
    parts.append(environ.get("TORCHELASTIC_RESTART_COUNT", ""))
    if local_world_size is None or local_world_size == world_size:
        # One machine: every rank is a child of the same launcher process; its pid and start
        # time tell this launch apart from an earlier one that used the same port.
        parent = os.getppid()
        parts += [str(parent), _process_start_ticks(parent)]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return f"launch-{digest}"


def rank_info(environ: Mapping[str, str] | None = None) -> RankInfo:
    """Read ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (torchrun, accelerate); single process if absent.

    >>> rank_info({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1",
    ...            "ECHO4O_LAUNCH_ID": "job7"})
    RankInfo(rank=1, world_size=2, local_rank=1, launch_id='job7')
    >>> rank_info({"RANK": "2", "WORLD_SIZE": "2"})
    Traceback (most recent call last):
    ...
    echo4o_eval.distributed.DistributedError: RANK=2 must be below WORLD_SIZE=2
    """
    environ = os.environ if environ is None else environ
    rank = _int_env(environ, "RANK")
    world_size = _int_env(environ, "WORLD_SIZE")
    local_rank = _int_env(environ, "LOCAL_RANK")
    if rank is None and world_size is None:
        return RankInfo(0, 1, local_rank or 0, "single")
    if rank is None or world_size is None:
        raise DistributedError(
            "RANK and WORLD_SIZE must be set together (torchrun and accelerate launch set both); "
            f"got RANK={environ.get('RANK')!r}, WORLD_SIZE={environ.get('WORLD_SIZE')!r}"
        )
    if world_size < 1:
        raise DistributedError(f"WORLD_SIZE={world_size} must be at least 1")
    if not 0 <= rank < world_size:
        raise DistributedError(f"RANK={rank} must be below WORLD_SIZE={world_size}")
    if world_size == 1:
        return RankInfo(0, 1, local_rank or 0, "single")
    local_world = _int_env(environ, "LOCAL_WORLD_SIZE")
    return RankInfo(rank, world_size, rank if local_rank is None else local_rank,
                    _launch_id(environ, world_size, local_world))


def shard(
    items: Sequence[T], rank: int, world_size: int, key: Callable[[T], str] | None = None
) -> list[T]:
    """This rank's items: a stable, deterministic partition that covers every item once.

    Without ``key`` items are dealt round-robin by position (balanced; the same list gives the
    same shards). With ``key`` each item goes to ``sha256(key(item)) % world_size``, so an
    item keeps its rank even when the list is filtered or reordered.

    >>> shard(range(5), 0, 2), shard(range(5), 1, 2)
    ([0, 2, 4], [1, 3])
    >>> shard(["a", "b", "c"], 0, 1, key=str)
    ['a', 'b', 'c']
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")
    if key is None:
        return list(items)[rank::world_size]
    out = []
    for item in items:
        digest = hashlib.sha256(str(key(item)).encode("utf-8")).digest()
        if int.from_bytes(digest[:8], "big") % world_size == rank:
            out.append(item)
    return out


def _torch_distributed_ready():
    """The torch.distributed module when a process group is initialised, else None."""
    if "torch" not in sys.modules:  # never import torch just to find out
        return None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def barrier(
    run_dir: str | Path,
    info: RankInfo,
    name: str,
    timeout_s: float = 3600.0,
    poll_s: float = 0.2,
) -> None:
    """Block until every rank of ``info``'s launch reaches the barrier ``name``.

    A single process returns at once. With an initialised torch.distributed process group the
    group's barrier is used. Otherwise each rank creates
    ``<run_dir>/.barriers/<launch_id>/<name>/rank-<r>.json`` and waits for all ``world_size``
    files (the run directory must be on a filesystem every rank sees). After ``timeout_s``
    seconds a DistributedError names the ranks that never arrived.

    >>> barrier("/nonexistent", rank_info({}), "generated")  # single process: no-op
    """
    if not info.is_distributed:
        return
    dist = _torch_distributed_ready()
    if dist is not None:
        if dist.get_world_size() != info.world_size:
            raise DistributedError(
                f"torch.distributed world size {dist.get_world_size()} differs from "
                f"WORLD_SIZE={info.world_size}"
            )
        dist.barrier()
        return
    folder = Path(run_dir) / ".barriers" / info.launch_id / name
    folder.mkdir(parents=True, exist_ok=True)
    arrival = folder / f"rank-{info.rank}.json"
    temporary = folder / f".rank-{info.rank}.{os.getpid()}.tmp"
    temporary.write_text(
        json.dumps({"rank": info.rank, "host": socket.gethostname(), "pid": os.getpid(),
                    "time": time.time()})
    )
    os.replace(temporary, arrival)  # appears atomically, complete
    deadline = time.monotonic() + timeout_s
    expected = [folder / f"rank-{r}.json" for r in range(info.world_size)]
    while True:
        missing = [r for r, path in enumerate(expected) if not path.exists()]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise DistributedError(
                f"barrier {name!r} timed out after {timeout_s:g} s on rank {info.rank}: "
                f"rank(s) {', '.join(map(str, missing))} of {info.world_size} never arrived "
                f"(waiting on files in {folder}; did a rank crash, or is {run_dir} not on a "
                "filesystem shared by all ranks?)"
            )
        time.sleep(poll_s)


def select_device(info: RankInfo | None = None, requested: str | None = None) -> str:
    """The device this rank should use: ``requested`` if given, else ``cuda:<local_rank>``
    (modulo the visible GPUs) when CUDA is available, else ``"cpu"``.

    >>> select_device(rank_info({}), "cpu")
    'cpu'
    """
    if requested and requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        local_rank = (info or rank_info()).local_rank
        return f"cuda:{local_rank % torch.cuda.device_count()}"
    return "cpu"
