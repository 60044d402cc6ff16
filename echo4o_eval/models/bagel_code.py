"""Bagel's code, fetched automatically: a GitHub tarball at a pinned commit, checked and cached.

Bagel is not on PyPI. Unless the user points at a checkout (``bagel_repo`` / ``ECHO4O_BAGEL_REPO``),
the adapter downloads :data:`BAGEL_CODE_URL` (the repository archive at :data:`BAGEL_COMMIT`),
checks its sha256, and unpacks it under ``<cache>/bagel-code/<key>/repo`` (``<cache>`` is
``ECHO4O_CACHE_DIR`` or ``~/.cache/echo4o-eval``). Later runs reuse the unpacked copy.

The pin: :data:`BAGEL_COMMIT` is the Bagel commit our benchmark files already come from
(``benchmarks/geneval``'s long prompts). The tarball's sha256 could not be computed where this
release was made (no network), so :data:`BAGEL_CODE_SHA256` is empty: set it with
``--model-option bagel_code_sha256=HEX`` or ``ECHO4O_BAGEL_CODE_SHA256``; without it the
downloaded file's sha256 is printed once as a warning, stored beside the cache and recorded in
the run manifest, and every later use of the cache must match it. ``bagel_code_url`` /
``ECHO4O_BAGEL_CODE_URL`` select another archive (a fork, a mirror, a ``file://`` copy).

Example:
    >>> code_source({}, {})["url"] == BAGEL_CODE_URL
    True
    >>> code_source({"bagel_code_sha256": "AB" * 32}, {})["sha256"] == "ab" * 32
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Mapping

logger = logging.getLogger(__name__)

BAGEL_COMMIT = "056b5fd51a88c1eb4547318609e25d40080fcf87"
BAGEL_CODE_URL = f"https://github.com/ByteDance-Seed/Bagel/archive/{BAGEL_COMMIT}.tar.gz"
BAGEL_CODE_SHA256 = ""  # not computed yet (no network where this was written); see the docstring
REQUIRED_ENTRIES = ("inferencer.py", "modeling/bagel", "data")
DOWNLOAD_TIMEOUT_S = 30.0


class BagelCodeError(RuntimeError):
    """Bagel's code could not be downloaded, verified or unpacked; the message says what to do."""


def code_source(options: Mapping[str, object], environ: Mapping[str, str]) -> dict[str, str]:
    """``{"url", "sha256"}`` of the Bagel code archive to use (options > environment > pin)."""
    url = str(options.get("bagel_code_url") or environ.get("ECHO4O_BAGEL_CODE_URL") or BAGEL_CODE_URL)
    sha = options.get("bagel_code_sha256") or environ.get("ECHO4O_BAGEL_CODE_SHA256")
    if not sha and url == BAGEL_CODE_URL:
        sha = BAGEL_CODE_SHA256
    return {"url": url, "sha256": str(sha or "").strip().lower()}


def default_code_cache(environ: Mapping[str, str]) -> Path:
    """``<ECHO4O_CACHE_DIR or ~/.cache/echo4o-eval>/bagel-code``."""
    root = environ.get("ECHO4O_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "echo4o-eval") / "bagel-code"


def _manual_hint() -> str:
    return ("or clone https://github.com/ByteDance-Seed/Bagel (commit "
            f"{BAGEL_COMMIT}) and pass --model-option bagel_repo=DIR or set ECHO4O_BAGEL_REPO=DIR")


def _download(url: str, target: Path) -> str:
    """Stream ``url`` into ``target``; returns the sha256 of the bytes."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "echo4o-eval"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                open(target, "wb") as handle:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                handle.write(block)
    except OSError as exc:
        raise BagelCodeError(f"could not download Bagel's code from {url} ({exc}); run once where "
                             "it is reachable (it is cached after that), " + _manual_hint()) from exc
    return digest.hexdigest()


def _unpack(archive_path: Path, staging: Path, url: str) -> Path:
    """Extract the archive's single top folder into ``staging/repo`` (no paths outside it)."""
    try:
        with tarfile.open(archive_path, mode="r:*") as archive:
            members = archive.getmembers()
            tops = {m.name.split("/", 1)[0] for m in members if m.name.strip("/")}
            if len(tops) != 1:
                raise BagelCodeError(f"{url}: expected one top folder in the archive, found "
                                     f"{len(tops)}")
            archive.extractall(staging, members=members, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BagelCodeError(f"{url}: not a readable Bagel code archive ({exc})") from exc
    repo = staging / tops.pop()
    missing = [entry for entry in REQUIRED_ENTRIES if not (repo / entry).exists()]
    if missing:
        raise BagelCodeError(f"{url}: the archive is not Bagel's code (missing "
                             f"{', '.join(missing)})")
    return repo


def fetch_bagel_code(options: Mapping[str, object], environ: Mapping[str, str] | None = None,
                     cache_dir: str | Path | None = None, allow_download: bool = True) -> tuple[Path, dict]:
    """``(checkout folder, source)`` of Bagel's code from the cache, downloading it if needed.

    ``source`` is ``{"url", "sha256", "pinned"}`` for the manifest (``pinned`` False when the
    sha256 was not given and was taken from the download itself).
    """
    environ = os.environ if environ is None else environ
    source = code_source(options, environ)
    key = hashlib.sha256(source["url"].encode()).hexdigest()[:16]
    home = Path(cache_dir) if cache_dir else default_code_cache(environ)
    folder = home / key
    record_path = folder / "source.json"
    if record_path.is_file() and (folder / "repo").is_dir():
        recorded = json.loads(record_path.read_text(encoding="utf-8"))
        if not source["sha256"] or recorded.get("sha256") == source["sha256"]:
            return folder / "repo", {**source, "sha256": recorded["sha256"],
                                     "pinned": bool(source["sha256"])}
    if not allow_download or environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise BagelCodeError(
            f"Bagel's code is not in the cache ({folder}) and downloads are off (offline): run "
            f"once online to fetch {source['url']}, " + _manual_hint())
    home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bagel-code-", dir=home))
    try:
        archive_path = staging / "code.tar.gz"
        actual = _download(source["url"], archive_path)
        if source["sha256"] and actual != source["sha256"]:
            raise BagelCodeError(
                f"{source['url']}: sha256 {actual} does not match the pinned {source['sha256']}; "
                "nothing was kept")
        repo = _unpack(archive_path, staging / "unpacked", source["url"])
        if not source["sha256"]:
            logger.warning(
                "Bagel's code from %s has no pinned sha256; the download's sha256 is %s (recorded "
                "in the run manifest; pin it with ECHO4O_BAGEL_CODE_SHA256=%s)",
                source["url"], actual, actual)
        ready = staging / "ready"
        ready.mkdir()
        os.replace(repo, ready / "repo")
        (ready / "source.json").write_text(json.dumps({"url": source["url"], "sha256": actual}),
                                           encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        try:
            os.replace(ready, folder)
        except OSError:  # another process finished first: use its copy
            if not (folder / "repo").is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / "repo", {"url": source["url"], "sha256": actual,
                             "pinned": bool(source["sha256"])}
