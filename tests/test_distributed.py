"""Rank info, sharding and the barrier, with two real CPU processes (file barrier and gloo)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from echo4o_eval.distributed import DistributedError, RankInfo, barrier, rank_info, shard

REPO = Path(__file__).resolve().parents[1]


def test_rank_info_single_process_when_env_absent():
    assert rank_info({}) == RankInfo(0, 1, 0, "single")
    assert rank_info({"RANK": "0", "WORLD_SIZE": "1"}).is_distributed is False


def test_rank_info_reads_launcher_env():
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
           "MASTER_ADDR": "node0", "MASTER_PORT": "29500"}
    info = rank_info(env)
    assert (info.rank, info.world_size, info.local_rank, info.is_main) == (3, 4, 1, False)
    # every rank of one multi-node launch derives the same launch id
    assert rank_info({**env, "RANK": "0", "LOCAL_RANK": "0"}).launch_id == info.launch_id
    assert rank_info({**env, "MASTER_PORT": "29501"}).launch_id != info.launch_id


@pytest.mark.parametrize(
    "env, message",
    [
        ({"RANK": "1"}, "RANK and WORLD_SIZE must be set together"),
        ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not an integer"),
        ({"RANK": "5", "WORLD_SIZE": "2"}, "RANK=5 must be below WORLD_SIZE=2"),
    ],
)
def test_rank_info_rejects_inconsistent_env(env, message):
    with pytest.raises(DistributedError, match=message):
        rank_info(env)


@pytest.mark.parametrize("world_size", [1, 2, 3, 7])
@pytest.mark.parametrize("use_key", [False, True])
def test_shard_is_a_deterministic_partition(world_size, use_key):
    items = [f"sample-{i}" for i in range(50)]
    key = (lambda item: item) if use_key else None
    shards = [shard(items, r, world_size, key=key) for r in range(world_size)]
    flat = [item for part in shards for item in part]
    assert sorted(flat) == sorted(items)  # every item exactly once
    assert shards == [shard(items, r, world_size, key=key) for r in range(world_size)]
    for part in shards:  # order inside a shard follows the input order
        assert part == [item for item in items if item in part]


def test_keyed_shard_is_stable_when_the_list_is_filtered():
    items = [f"s{i}" for i in range(40)]
    full = shard(items, 1, 3, key=str)
    filtered = shard(items[::2], 1, 3, key=str)
    assert filtered == [item for item in full if item in items[::2]]


def test_shard_rejects_bad_rank():
    with pytest.raises(ValueError, match="rank 2 is not in a world of size 2"):
        shard([1, 2], 2, 2)


def test_file_barrier_times_out_naming_missing_ranks(tmp_path):
    info = RankInfo(0, 3, 0, "t")
    with pytest.raises(DistributedError, match=r"rank\(s\) 1, 2 of 3 never arrived"):
        barrier(tmp_path, info, "done", timeout_s=0.3, poll_s=0.05)


WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from echo4o_eval.distributed import barrier, rank_info
    run_dir, mode = sys.argv[1], sys.argv[2]
    info = rank_info()
    if mode == "gloo":
        import torch.distributed as dist
        dist.init_process_group("gloo", rank=info.rank, world_size=info.world_size)
    time.sleep(1.5 if info.rank == 1 else 0.0)   # rank 1 arrives late
    arrived = time.time()
    barrier(run_dir, info, "generated", timeout_s=60, poll_s=0.02)
    left = time.time()
    print(json.dumps({"rank": info.rank, "arrived": arrived, "left": left,
                      "launch_id": info.launch_id}))
    if mode == "gloo":
        dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("mode", ["file", "gloo"])
def test_two_processes_wait_for_each_other(tmp_path, mode):
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
               "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        env.pop("ECHO4O_LAUNCH_ID", None)
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), mode],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        ))
    results = {}
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        record = json.loads(out.strip().splitlines()[-1])
        results[record["rank"]] = record
    # rank 0 could not leave before the late rank 1 arrived
    assert results[0]["left"] >= results[1]["arrived"]
    assert results[1]["arrived"] - results[0]["arrived"] > 1.0
    assert results[0]["launch_id"] == results[1]["launch_id"]
    barrier_files = list((tmp_path / ".barriers").rglob("rank-*.json"))
    assert len(barrier_files) == (2 if mode == "file" else 0)


def test_a_later_launch_does_not_pass_on_stale_barrier_files(tmp_path):
    """Files left by an earlier launch (other launch id) never satisfy a new barrier."""
    old = RankInfo(1, 2, 1, "launch-old")
    barrier_dir = tmp_path / ".barriers" / "launch-old" / "generated"
    barrier_dir.mkdir(parents=True)
    (barrier_dir / "rank-1.json").write_text("{}")
    new = RankInfo(0, 2, 0, "launch-new")
    assert new.launch_id != old.launch_id
    started = time.monotonic()
    with pytest.raises(DistributedError, match=r"rank\(s\) 1 of 2 never arrived"):
        barrier(tmp_path, new, "generated", timeout_s=0.3, poll_s=0.05)
    assert time.monotonic() - started >= 0.3
