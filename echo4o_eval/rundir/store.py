"""The run store: one directory per run, append-only and resumable.

Layout of a run directory::

    manifest.json          benchmark id+version, model/judge specs, every parameter, seeds,
                           package versions, git revision, config fingerprint (never an API key)
    samples.jsonl          the samples the run covers (so reports need no data dir)
    records-<rank>.jsonl   append-only, fsync'd; one JSON object per line:
                           {"type": "generation", "key": {...}, "generation": {...}}
                           {"type": "score", "key": {...}, "judgements": [...], "score": {...}}
                           (a retried judgement adds "attempt": n and "earlier": the failed
                           attempts' judgements, kept for audit)
    images/<sample>/<i>.png  generated images at fixed paths
    result.json            aggregated BenchmarkResult with confidence intervals
    lock-<rank>            held (flock) while a process writes that rank's records

A record key is (model, benchmark@version, sample id, image index, seed, fingerprint).
Generation records carry the *generation* fingerprint (model, prompts, seeds, generation
parameters), score records the full one (plus judge and scoring options), so a
``--generate-only`` run can later be judged in place. When a key has several records (a
failed image retried on resume) the last one wins (an ``ok`` image over a failure, a score over
one of an earlier retry round, whatever shard holds them); the generation records it replaced
stay in ``RunData.earlier_generation_records``, so a paid failed attempt still counts in the
run's usage. A process killed at any point leaves at
most one partial last line, which is ignored on reading and cut off before the next append.
Lines are decoded one by one: a line with invalid UTF-8, a line that is not JSON and JSON that
is not a record are skipped, each noted as ``file:line: what`` in ``RunData.problems``.
Training code can write evaluation runs with the same API (create the store, append records,
write the result).

Example:
    >>> import tempfile
    >>> from echo4o_eval.records.types import Generation, Status
    >>> store = RunStore(tempfile.mkdtemp())
    >>> store.initialise({"fingerprint": "abc", "model": {"spec": "m"}, "benchmark": "b@1"}, [])
    >>> with store.writer() as writer:
    ...     writer.append_generation(Generation("s1", 0, 7, Status.OK, image_path="x.png"))
    >>> sorted(store.load().generations)
    [('s1', 0)]
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from echo4o_eval.records.types import (
    BenchmarkResult,
    Generation,
    Judgement,
    Sample,
    SampleScore,
    to_json,
)
from echo4o_eval.rundir.rundata import RunData, add_generation, add_score  # noqa: F401 (re-exported)
from echo4o_eval.rundir.writer import RunWriter, generation_fingerprint_of

SCHEMA_VERSION = 1


class StoreError(RuntimeError):
    """The run directory is unusable (locked, config changed, corrupt)."""


class RunConfigChanged(StoreError):
    """The run directory was made with another configuration."""


class NotARunDirectory(StoreError):
    """A non-empty directory that is not one of our run directories (never written to)."""


_BEING_CREATED = re.compile(r"lock-\d+|\..*\.tmp")  # what a rank starting the same run may leave


def _samples_text(samples: Sequence[Sample]) -> str:
    """samples.jsonl's exact contents for ``samples``."""
    return "".join(json.dumps(to_json(sample), ensure_ascii=False) + "\n" for sample in samples)


def check_run_directory(run_dir: str | Path, samples: Sequence[Sample] | None = None) -> None:
    """Refuse a directory that exists, has files, and is not a run directory of ours.

    Passes: a missing or empty directory, one with a manifest.json, or one holding only what
    another rank creating this same run writes before its manifest (lock files, temporary
    files, an empty images/, and a samples.jsonl identical to the one ``samples`` make).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()); _ = (folder / "notes.txt").write_text("mine")
    >>> check_run_directory(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    echo4o_eval.rundir.store.NotARunDirectory: ... is not empty and is not an echo4o-eval run directory (no manifest.json; it holds notes.txt); nothing was written to it. Choose another --run-dir, or an empty or new directory
    """
    folder = Path(run_dir)
    if not folder.is_dir() or (folder / "manifest.json").exists():
        return
    samples_text = None if samples is None else _samples_text(samples)
    def ours(entry: Path) -> bool:
        if _BEING_CREATED.fullmatch(entry.name):
            return True
        if entry.name == "images":
            return entry.is_dir() and not any(entry.iterdir())
        if entry.name == "samples.jsonl" and samples_text is not None:
            try:
                return entry.read_text(encoding="utf-8") == samples_text
            except (OSError, UnicodeDecodeError):
                return False
        return False

    foreign = sorted(entry.name for entry in folder.iterdir() if not ours(entry))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise NotARunDirectory(
            f"{folder} is not empty and is not an echo4o-eval run directory (no manifest.json; it "
            f"holds {shown}); nothing was written to it. Choose another --run-dir, or an empty or "
            "new directory")


def fingerprint(config: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a configuration.

    >>> fingerprint({"b": 1, "a": [1, 2]}) == fingerprint({"a": [1, 2], "b": 1})
    True
    """
    text = json.dumps(to_json(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def safe_name(text: str) -> str:
    """A file-system-safe, collision-free folder name for a sample id.

    >>> safe_name("00012"), safe_name("a/b")[:4]
    ('00012', 'a_b-')
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", text)[:80]
    if cleaned == text and cleaned not in (".", ".."):
        return cleaned
    return f"{cleaned}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via a temp file and rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(to_json(data), handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


IGNORED_IN_CHANGES = frozenset({
    "created", "versions", "git_revision", "model_settings", "judge_settings", "model_options",
    "judge_options", "world_size", "generation_fingerprint",
})


class RunStore:
    """One run directory (see the module docstring for its layout)."""

    def __init__(self, run_dir: str | Path, rank: int = 0) -> None:
        self.run_dir = Path(run_dir).expanduser().absolute()  # records hold absolute image paths
        self.rank = rank
        self._manifest: dict[str, Any] | None = None

    @property
    def manifest_path(self) -> Path:
        """Path of the run's manifest.json."""
        return self.run_dir / "manifest.json"

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest, read once and cached; raises StoreError like read_manifest."""
        if self._manifest is None:
            self._manifest = self.read_manifest()
        return self._manifest

    def exists(self) -> bool:
        """True when the run directory has a manifest.json."""
        return self.manifest_path.exists()

    def read_manifest(self) -> dict[str, Any]:
        """The manifest as a dict; raises StoreError when it is missing or not valid JSON."""
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise StoreError(f"{self.run_dir}: not a run directory (no manifest.json)") from exc
        except json.JSONDecodeError as exc:
            raise StoreError(f"{self.manifest_path}: corrupt manifest: {exc}") from exc

    def initialise(self, manifest: Mapping[str, Any], samples: Sequence[Sample]) -> None:
        """Create the run, or check that an existing one has the same fingerprint.

        Raises RunConfigChanged naming the differing fields when the config changed.
        """
        manifest = dict(manifest)
        manifest.setdefault("schema_version", SCHEMA_VERSION)
        if self.exists():
            old = self.read_manifest()
            same_images = generation_fingerprint_of(old) == generation_fingerprint_of(manifest)
            if old.get("fingerprint") == manifest.get("fingerprint"):
                self._manifest = old
            elif same_images and manifest.get("judge") is None:
                self._manifest = old  # --generate-only on a judged run: only images are made
            elif same_images and old.get("judge") is None:
                write_json_atomic(self.manifest_path, manifest)  # judge a --generate-only run
                self._manifest = manifest
            else:
                changed = sorted(
                    k for k in set(old) | set(manifest)
                    if k not in IGNORED_IN_CHANGES and old.get(k) != manifest.get(k)
                )
                raise RunConfigChanged(
                    f"{self.run_dir} was made with a different configuration (changed: "
                    f"{', '.join(changed) or 'fingerprint'}); pass --new-run to start a fresh "
                    f"run next to it, or --run-dir to choose another directory"
                )
            self._merge_samples(samples)
            return
        check_run_directory(self.run_dir, samples)  # never write into a user's folder
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "images").mkdir(exist_ok=True)
        self._write_samples(samples)
        write_json_atomic(self.manifest_path, manifest)
        self._manifest = manifest

    def _write_samples(self, samples: Sequence[Sample]) -> None:
        tmp = self.run_dir / f".samples.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(_samples_text(samples))
        os.replace(tmp, self.run_dir / "samples.jsonl")

    def _merge_samples(self, samples: Sequence[Sample]) -> None:
        """A resumed run may cover more samples (e.g. a larger --limit): keep the union."""
        known = self.read_samples()
        extra = [s for s in samples if s.id not in known]
        if extra and self.rank == 0:
            self._write_samples(list(known.values()) + extra)

    def read_samples(self) -> dict[str, Sample]:
        """Samples from samples.jsonl keyed by id ({} when the file does not exist)."""
        path = self.run_dir / "samples.jsonl"
        if not path.exists():
            return {}
        samples = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                sample = Sample.from_json(json.loads(line))
                samples[sample.id] = sample
        return samples

    def image_path(self, sample_id: str, image_index: int) -> Path:
        """Fixed path where a generated image for (sample, index) is written."""
        return self.run_dir / "images" / safe_name(sample_id) / f"{image_index}.png"

    def shard_path(self, rank: int | None = None) -> Path:
        """Path of the records shard of ``rank`` (default: this store's rank)."""
        return self.run_dir / f"records-{self.rank if rank is None else rank}.jsonl"

    @contextlib.contextmanager
    def writer(self, sync_interval: float = 0.2) -> Iterator[RunWriter]:
        """Lock this rank's shard, repair a partial last line, and yield a RunWriter
        (``sync_interval``: see :class:`RunWriter`)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lock = open(self.run_dir / f"lock-{self.rank}", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock.close()
            raise StoreError(
                f"{self.run_dir} is being written by another process (rank {self.rank}); "
                "wait for it to finish or use another --run-dir"
            ) from exc
        try:
            path = self.shard_path()
            _truncate_partial_line(path)
            with open(path, "a", encoding="utf-8") as handle:
                writer = RunWriter(self, handle, sync_interval)
                try:
                    yield writer
                finally:
                    writer.close()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()

    def iter_records(self, problems: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """All complete records of all shards; each skipped line (partial, invalid UTF-8, not
        JSON, not a record) is described in ``problems`` as ``file:line: what``."""
        def skip(where: str, what: str) -> None:
            if problems is not None:
                problems.append(f"{where}: {what}")

        for path in sorted(self.run_dir.glob("records-*.jsonl")):
            with open(path, "rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    where = f"{path}:{number}"
                    if not raw.endswith(b"\n"):
                        skip(where, "partial last line (a killed writer)")
                        break
                    try:
                        record = json.loads(raw.decode("utf-8"))
                    except UnicodeDecodeError as exc:
                        skip(where, f"invalid UTF-8 at byte {exc.start}")
                        continue
                    except json.JSONDecodeError as exc:
                        skip(where, f"not JSON ({exc.msg})")
                        continue
                    if not isinstance(record, dict) or not {"type", "key"} <= record.keys() \
                            or not isinstance(record["key"], dict):
                        skip(where, "JSON that is not a run record (needs 'type' and 'key')")
                        continue
                    record["_where"] = where
                    yield record

    def load(self) -> RunData:
        """Read the whole run; when a key has several records, see :func:`~echo4o_eval.rundir.rundata.add_generation`
        and :func:`~echo4o_eval.rundir.rundata.add_score` for the one that wins (the earlier ones stay for audit and usage)."""
        data = RunData(
            run_dir=self.run_dir, manifest=self.read_manifest(), samples=self.read_samples()
        )
        wanted = {"generation": generation_fingerprint_of(data.manifest),
                  "score": data.manifest.get("fingerprint")}
        for record in self.iter_records(data.problems):
            key, kind, where = record["key"], record["type"], record.pop("_where")
            if kind not in wanted:
                data.problems.append(f"{where}: unknown record type {kind!r}, ignored")
                continue
            if key.get("fingerprint") != wanted[kind]:
                data.problems.append(f"{where}: record of another configuration, ignored")
                continue
            try:
                ident = (key["sample_id"], int(key["image_index"]))
                if kind == "generation":
                    generation = Generation.from_json(record["generation"])
                else:
                    score = SampleScore.from_json(record["score"])
                    judgements = [Judgement.from_json(j) for j in record["judgements"]]
                    attempt = int(record.get("attempt", 0))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                data.problems.append(f"{where}: malformed {kind} record ({exc!r}), ignored")
                continue
            if kind == "generation":
                add_generation(data, ident, generation)
            else:
                add_score(data, ident, score, judgements, attempt, record.get("earlier"))
        data.skipped_lines = len(data.problems)
        result_path = self.run_dir / "result.json"
        if result_path.exists():
            data.result = BenchmarkResult.from_json(
                json.loads(result_path.read_text(encoding="utf-8"))["result"]
            )
        return data

    def write_result(self, result: BenchmarkResult, extra: Mapping[str, Any] | None = None) -> None:
        """Write result.json atomically (result plus run-level extras such as cost)."""
        write_json_atomic(self.run_dir / "result.json", {"result": result, **(extra or {})})

    def write_text(self, name: str, text: str) -> Path:
        """Write an extra output file (e.g. official results.jsonl) into the run directory."""
        path = self.run_dir / name
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return path


def _truncate_partial_line(path: Path) -> None:
    """Cut a trailing partial line (left by a killed writer) so appends stay line-aligned."""
    if not path.exists():
        return
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        position = size - 1
        while position > 0:
            step = min(65536, position)
            handle.seek(position - step)
            chunk = handle.read(step)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                handle.truncate(position - step + cut + 1)
                return
            position -= step
        handle.truncate(0)


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory (manifest, samples, records of all ranks, result).

    >>> load_run("/nonexistent")
    Traceback (most recent call last):
    ...
    echo4o_eval.rundir.store.StoreError: /nonexistent: not a run directory (no manifest.json)
    """
    return RunStore(run_dir).load()
