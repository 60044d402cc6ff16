"""Append-only stage records and the index over them.

Each stage appends one JSON line per finished sample to ``WORK/records/<stage>-rank<r>.jsonl``
(flushed and fsync'd, so a SIGKILL loses at most the line being written; a torn last line is
ignored). The files are the truth. ``WORK/index.sqlite`` indexes them: it remembers how many
bytes of each file it has read and only reads what was appended since, so resume, status and
export never rescan a 180K-line history and never hold it in memory. The last record of a
sample in a stage wins, except for money: the index also keeps a spend ledger, one row per
record line that sent a request (:func:`~echo4o_eval.data_gen.spend.line_spend`, keyed by file
and byte offset, so indexing a line twice cannot count it twice), and :meth:`RecordStore.spend`
totals every attempt ever recorded, failed ones that a retry replaced included.

Example:
    >>> import tempfile
    >>> store = RecordStore(tempfile.mkdtemp())
    >>> with store.writer("plan") as write:
    ...     write({"id": "a", "status": "ok"})
    ...     write({"id": "b", "status": "ok"})
    ...     write({"id": "a", "status": "plan_error"})
    >>> store.get("plan", "a")["status"], store.count("plan"), sorted(store.ids("plan"))
    ('plan_error', 2, ['a', 'b'])
    >>> [row["generate"] for row in store.joined("plan", ("generate",))]
    [None, None]
    >>> with store.writer("check") as write:
    ...     write({"id": "a", "status": "check_error", "cached": False, "cost_usd": 0.25})
    ...     write({"id": "a", "status": "kept", "cached": False, "cost_usd": 0.5})
    >>> store.spend("check")
    {'billed': 2, 'cost_usd': 0.75, 'unpriced': 0, 'unanswered': 0, 'unit_cost': 0.5}
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from echo4o_eval.data_gen.spend import line_spend

STAGES = ("plan", "generate", "check", "filter")


def retry_round(previous: dict[str, Any] | None, failed: str) -> int:
    """The retry round of a sample's next request: one more than its last record's when that
    record has the ``failed`` status, else 0 (a first try, or a reply never recorded, which the
    cache replays).

    >>> retry_round(None, "check_error"), retry_round({"status": "check_error"}, "check_error")
    (0, 1)
    >>> retry_round({"status": "check_error", "retry_round": 1}, "check_error")
    2
    """
    if not previous or previous.get("status") != failed:
        return 0
    return int(previous.get("retry_round") or 0) + 1


class RecordStore:
    """Records of one work directory (see the module docstring)."""

    def __init__(self, work_dir: str | Path, rank: int = 0) -> None:
        self.work_dir = Path(work_dir)
        self.records_dir = self.work_dir / "records"
        self.records_dir.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.work_dir / "index.sqlite", timeout=120, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=120000")
        self._db.execute("CREATE TABLE IF NOT EXISTS records (stage TEXT, id TEXT, seq INTEGER,"
                         " status TEXT, data TEXT, PRIMARY KEY (stage, id))")
        self._db.execute("CREATE TABLE IF NOT EXISTS offsets (file TEXT PRIMARY KEY, offset INTEGER)")
        ledger = self._db.execute("SELECT 1 FROM sqlite_master WHERE name='spend'").fetchone()
        self._db.execute("CREATE TABLE IF NOT EXISTS spend (stage TEXT, file TEXT, offset INTEGER,"
                         " billed INTEGER, cost REAL, unpriced INTEGER, unanswered INTEGER,"
                         " PRIMARY KEY (file, offset))")
        if ledger is None:  # an index made before the ledger existed: read the files again
            self._db.execute("DELETE FROM offsets")
            self._db.execute("DELETE FROM records")
        self._db.commit()

    # -- writing -------------------------------------------------------------------------
    def path(self, stage: str, rank: int | None = None) -> Path:
        """The record file of ``stage`` written by ``rank`` (default: this process's rank)."""
        return self.records_dir / f"{stage}-rank{self.rank if rank is None else rank}.jsonl"

    @contextlib.contextmanager
    def writer(self, stage: str) -> Iterator[Callable[[dict], None]]:
        """A function appending one record (a dict with ``id``) durably to ``stage``'s file."""
        handle = open(self.path(stage), "a", encoding="utf-8")

        def write(record: dict) -> None:
            if "id" not in record:
                raise ValueError(f"a {stage} record needs an 'id': {record}")
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

        try:
            yield write
        finally:
            handle.close()

    def replace(self, stage: str, records) -> int:
        """Write ``stage`` anew (stages recomputed as a whole, e.g. filter); returns the count."""
        target = self.path(stage, 0)
        tmp = target.with_name(target.name + ".part")
        count = 0
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        for old in self.records_dir.glob(f"{stage}-rank*.jsonl"):
            old.unlink()
        os.replace(tmp, target)
        with self._lock, self._db:
            self._db.execute("DELETE FROM records WHERE stage=?", (stage,))
            self._db.execute("DELETE FROM offsets WHERE file LIKE ?", (f"{stage}-rank%",))
            self._db.execute("DELETE FROM spend WHERE stage=?", (stage,))
        return count

    # -- indexing ------------------------------------------------------------------------
    def refresh(self, stage: str) -> None:
        """Index the lines appended to ``stage``'s files since the last refresh."""
        files = sorted(self.records_dir.glob(f"{stage}-rank*.jsonl"))
        with self._lock, self._db:
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM records WHERE stage=?",
                                   (stage,)).fetchone()[0]
            for file in files:
                row = self._db.execute("SELECT offset FROM offsets WHERE file=?", (file.name,)).fetchone()
                start = row[0] if row else 0
                size = file.stat().st_size
                if size < start:  # the file was rewritten: index it again
                    self._db.execute("DELETE FROM records WHERE stage=?", (stage,))
                    self._db.execute("DELETE FROM spend WHERE stage=?", (stage,))
                    return self._reindex(stage)
                if size == start:
                    continue
                with open(file, "rb") as handle:
                    handle.seek(start)
                    data = handle.read()
                end = data.rfind(b"\n") + 1  # a torn last line (killed mid-write) waits
                rows, spent = [], []
                offset = start
                for line in data[:end].split(b"\n")[:-1]:
                    where, offset = offset, offset + len(line) + 1
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a torn line followed by newer lines: skipped, never guessed
                    seq += 1
                    rows.append((stage, str(record["id"]), seq, record.get("status"), line.decode()))
                    cost = line_spend(stage, record)
                    if cost is not None:
                        spent.append((stage, file.name, where, cost["billed"], cost["cost_usd"],
                                      cost["unpriced"], cost["unanswered"]))
                self._db.executemany("INSERT OR REPLACE INTO records VALUES (?,?,?,?,?)", rows)
                self._db.executemany("INSERT OR REPLACE INTO spend VALUES (?,?,?,?,?,?,?)", spent)
                self._db.execute("INSERT OR REPLACE INTO offsets VALUES (?,?)", (file.name, start + end))

    def _reindex(self, stage: str) -> None:
        self._db.execute("DELETE FROM offsets WHERE file LIKE ?", (f"{stage}-rank%",))
        self._db.commit()
        self.refresh(stage)

    # -- reading -------------------------------------------------------------------------
    def get(self, stage: str, sample_id: str, refresh: bool = True) -> dict | None:
        """The latest record of ``sample_id`` in ``stage``, or None."""
        if refresh:
            self.refresh(stage)
        row = self._db.execute("SELECT data FROM records WHERE stage=? AND id=?",
                               (stage, sample_id)).fetchone()
        return json.loads(row[0]) if row else None

    def ids(self, stage: str, statuses: tuple[str, ...] | None = None) -> set[str]:
        """Ids with a record in ``stage`` (optionally only with one of ``statuses``)."""
        self.refresh(stage)
        if statuses is None:
            rows = self._db.execute("SELECT id FROM records WHERE stage=?", (stage,))
        else:
            marks = ",".join("?" * len(statuses))
            rows = self._db.execute(f"SELECT id FROM records WHERE stage=? AND status IN ({marks})",
                                    (stage, *statuses))
        return {r[0] for r in rows}

    def iterate(self, stage: str, batch: int = 2000) -> Iterator[dict]:
        """Every latest record of ``stage`` in the order first written, a batch at a time."""
        self.refresh(stage)
        last = -1
        while True:
            rows = self._db.execute(
                "SELECT seq, data FROM records WHERE stage=? AND seq>? ORDER BY seq LIMIT ?",
                (stage, last, batch)).fetchall()
            if not rows:
                return
            for seq, data in rows:
                yield json.loads(data)
            last = rows[-1][0]

    def joined(self, driver: str, others: tuple[str, ...], batch: int = 2000) -> Iterator[dict[str, dict | None]]:
        """``{stage: latest record or None}`` for every record of ``driver`` (in its order) with
        the same id's records of ``others``: one query per batch, not one per sample."""
        for stage in (driver, *others):
            self.refresh(stage)
        columns = ", ".join(f"o{i}.data" for i in range(len(others)))
        joins = " ".join(f"LEFT JOIN records o{i} ON o{i}.stage=? AND o{i}.id=d.id" for i in range(len(others)))
        query = (f"SELECT d.seq, d.data{', ' + columns if others else ''} FROM records d {joins} "
                 "WHERE d.stage=? AND d.seq>? ORDER BY d.seq LIMIT ?")
        last = -1
        while True:
            rows = self._db.execute(query, (*others, driver, last, batch)).fetchall()
            if not rows:
                return
            for row in rows:
                out = {driver: json.loads(row[1])}
                for stage, data in zip(others, row[2:]):
                    out[stage] = json.loads(data) if data is not None else None
                yield out
            last = rows[-1][0]

    def spend(self, stage: str) -> dict[str, Any]:
        """What every record of ``stage`` ever written sent and cost (see
        :mod:`~echo4o_eval.data_gen.spend`): ``billed`` (images, or chat calls), ``cost_usd``
        of those with a known price, ``unpriced`` (no price: not in the cost), ``unanswered``
        requests, and ``unit_cost``, the most one record cost (None before any priced one)."""
        self.refresh(stage)
        billed, cost, unpriced, missed, unit = self._db.execute(
            "SELECT COALESCE(SUM(billed), 0), COALESCE(SUM(cost), 0.0), COALESCE(SUM(unpriced), 0),"
            " COALESCE(SUM(unanswered), 0), MAX(CASE WHEN billed > 0 THEN cost END) FROM spend WHERE stage=?",
            (stage,)).fetchone()
        return {"billed": int(billed), "cost_usd": round(float(cost), 10), "unpriced": int(unpriced),
                "unanswered": int(missed), "unit_cost": unit}

    def count(self, stage: str) -> int:
        """Samples with a record in ``stage``."""
        self.refresh(stage)
        return self._db.execute("SELECT COUNT(*) FROM records WHERE stage=?", (stage,)).fetchone()[0]

    def status_counts(self, stage: str) -> dict[str, int]:
        """``{status: samples}`` of ``stage``."""
        self.refresh(stage)
        rows = self._db.execute("SELECT status, COUNT(*) FROM records WHERE stage=? GROUP BY status",
                                (stage,))
        return {str(status): n for status, n in rows}

    def close(self) -> None:
        """Close the index."""
        self._db.close()
