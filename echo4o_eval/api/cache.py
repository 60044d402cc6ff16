"""Persistent response cache for API calls (sqlite, WAL mode, safe for several processes).

Replies are stored under ``(request_hash, slot)``: the hash covers the model, base URL, full
messages (image bytes included) and parameters; the slot names which reply of that request it
is (vote ``v0``, ``v1``... and parse attempt ``a0``, ``a1``...). A re-asked request after an
unparsable reply therefore gets a *new* slot instead of the same bad cached reply, and a
re-run replays the exact same sequence without a single API call.

Example:
    >>> import tempfile, os
    >>> cache = ResponseCache(os.path.join(tempfile.mkdtemp(), "responses.sqlite"))
    >>> key = request_hash({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    >>> cache.get(key, "v0.a0") is None
    True
    >>> cache.put(key, "v0.a0", {"text": "hello"})
    >>> cache.get(key, "v0.a0")
    {'text': 'hello'}
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Mapping


def request_hash(payload: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a request (keys sorted, no whitespace).

    >>> request_hash({"b": 1, "a": [1, 2]}) == request_hash({"a": [1, 2], "b": 1})
    True
    """
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """A key/slot -> JSON reply store in one sqlite file; one connection per thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self._conn()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT NOT NULL, slot TEXT NOT NULL,"
            " kind TEXT, reply TEXT NOT NULL, created REAL, PRIMARY KEY (key, slot))"
        )
        conn.commit()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def get(self, key: str, slot: str) -> Any | None:
        """The stored reply, or None."""
        row = self._conn().execute(
            "SELECT reply FROM responses WHERE key=? AND slot=?", (key, slot)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, slot: str, reply: Any, kind: str = "") -> None:
        """Store a reply (the first writer wins when two processes race)."""
        self._conn().execute(
            "INSERT OR IGNORE INTO responses (key, slot, kind, reply, created) VALUES (?,?,?,?,?)",
            (key, slot, kind, json.dumps(reply, ensure_ascii=False), time.time()),
        )

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Close this thread's database connection, if open."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
