"""Official benchmark files: download pinned copies, verify sha256, cache, or read a local copy.

Nothing official is shipped with the package. Each asset in a benchmark.yaml names an
official URL pinned to a commit and the sha256 of its bytes. Resolution order for a file:

1. ``data_dir`` (``--data-dir`` or ``ECHO4O_DATA_DIR``): a folder laid out like the
   project's test data (``geneval/evaluation_metadata.jsonl`` ...). Files found there are
   verified too; a mismatch is an error naming the file.
2. the cache (``ECHO4O_CACHE_DIR`` or ``~/.cache/echo4o-eval``) under ``data/``.
3. a download into the cache (unless ``allow_download`` is False); a file whose sha256 does
   not match is deleted and reported, never kept.

Example:
    >>> from echo4o_eval.spec import get_benchmark
    >>> assets = Assets(get_benchmark("geneval_pp"), data_dir="/nonexistent", allow_download=False)
    >>> assets.path("prompts")
    Traceback (most recent call last):
    ...
    echo4o_eval.assets.AssetError: geneval_pp asset 'prompts' (geneval_pp/Geneval++.jsonl) not found in /nonexistent; downloads are off: run `echo4o-eval data fetch geneval_pp` where the network is reachable, or point --data-dir DIR (or ECHO4O_DATA_DIR=DIR) at a local copy
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from echo4o_eval.spec import AssetSpec, BenchmarkSpec


MISSING = "missing"  # a required file is absent: verification fails
SKIPPED = "optional, not present"  # an optional file is absent: listed as skipped
PASSED = ("ok", "present (no pinned sha256)")


class AssetError(RuntimeError):
    """An official file is missing, unreadable or fails its checksum."""


def default_cache_dir() -> Path:
    """Cache root: ``ECHO4O_CACHE_DIR`` or ``~/.cache/echo4o-eval``."""
    env = os.environ.get("ECHO4O_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "echo4o-eval"


def default_data_dir() -> Path | None:
    """``ECHO4O_DATA_DIR`` when set (a local copy of the official files)."""
    env = os.environ.get("ECHO4O_DATA_DIR")
    return Path(env) if env else None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 digest of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def numeric_name_key(path: Path) -> tuple[int, bytes]:
    """Order of ``sort -n`` in the C locale: leading number (0 if none), then the name bytes.

    >>> [p.name for p in sorted(map(Path, ["b.txt", "10.txt", "2.txt", "a.txt"]), key=numeric_name_key)]
    ['a.txt', 'b.txt', '2.txt', '10.txt']
    """
    digits = len(path.name) - len(path.name.lstrip("0123456789"))
    return (int(path.name[:digits]) if digits else 0, path.name.encode())


def sha256_file_list(directory: Path, suffix: str = ".txt") -> str:
    """sha256 of a folder's ``*suffix`` files, names included: the digest of the ``sha256sum``
    listing (``<hex>  <name>`` lines) of the files in ``sort -n`` name order, i.e. the output of
    ``ls *.txt | sort -n | xargs sha256sum | sha256sum``. Renaming a file changes it.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "10.txt").write_text("b"); _ = (d / "2.txt").write_text("a")
    >>> listing = "".join(f"{hashlib.sha256(t).hexdigest()}  {n}\\n" for n, t in [("2.txt", b"a"), ("10.txt", b"b")])
    >>> sha256_file_list(d) == hashlib.sha256(listing.encode()).hexdigest()
    True
    """
    digest = hashlib.sha256()
    for path in sorted(directory.glob(f"*{suffix}"), key=numeric_name_key):
        digest.update(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n".encode())
    return digest.hexdigest()


def data_hint(benchmark: str) -> str:
    """What to do when an official file is not available here.

    >>> data_hint("geneval")
    'run `echo4o-eval data fetch geneval` where the network is reachable, or point --data-dir DIR (or ECHO4O_DATA_DIR=DIR) at a local copy'
    """
    return (f"run `echo4o-eval data fetch {benchmark}` where the network is reachable, or point "
            "--data-dir DIR (or ECHO4O_DATA_DIR=DIR) at a local copy")


def _download(url: str, benchmark: str, timeout: float = 60.0) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "echo4o-eval"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except OSError as exc:
        raise AssetError(f"download of {url} failed: {exc}; {data_hint(benchmark)}") from exc


class Assets:
    """Resolves the official files of one benchmark to verified local paths."""

    def __init__(
        self,
        spec: BenchmarkSpec,
        data_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        allow_download: bool = True,
    ) -> None:
        self.spec = spec
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir() / "data"
        self.allow_download = allow_download
        self._verified: dict[str, Path] = {}

    def _label(self, asset: AssetSpec) -> str:
        return f"{self.spec.id} asset {asset.name!r} ({asset.path})"

    def _check(self, asset: AssetSpec, path: Path) -> None:
        if not asset.sha256:
            return
        actual = sha256_file_list(path) if asset.kind == "file_list" else sha256_file(path)
        if actual != asset.sha256:
            raise AssetError(
                f"{path}: sha256 {actual} does not match the pinned {asset.sha256} of "
                f"{self._label(asset)}; the file is not the official one"
            )

    def locate(self, name: str) -> Path | None:
        """Existing local copy of an asset (data dir first, then cache), unverified."""
        asset = self.spec.asset(name)
        for root in (self.data_dir, self.cache_dir):
            if root is not None and (root / asset.path).exists():
                return root / asset.path
        return None

    def path(self, name: str) -> Path:
        """Verified local path of asset ``name``, downloading it if needed and allowed."""
        if name in self._verified:
            return self._verified[name]
        asset = self.spec.asset(name)
        found = self.locate(name)
        if found is None:
            if asset.kind in ("directory", "hf_dataset") or not asset.url:
                where = self.data_dir or self.cache_dir
                raise AssetError(
                    f"{self._label(asset)} not found in {where}. {asset.note}".strip()
                    + " Point --data-dir DIR (or ECHO4O_DATA_DIR=DIR) at the folder holding it."
                )
            if not self.allow_download:
                where = self.data_dir or self.cache_dir
                raise AssetError(
                    f"{self._label(asset)} not found in {where}; downloads are off: "
                    + data_hint(self.spec.id)
                )
            found = self._fetch(asset)
        self._check(asset, found)
        self._verified[name] = found
        return found

    def _fetch(self, asset: AssetSpec) -> Path:
        target = self.cache_dir / asset.path
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = _download(asset.url, self.spec.id)
        if asset.kind == "file_list":
            return self._unpack_file_list(asset, payload, target)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
            handle.write(payload)
            tmp = Path(handle.name)
        actual = sha256_file(tmp)
        if asset.sha256 and actual != asset.sha256:
            tmp.unlink()
            raise AssetError(
                f"downloaded {asset.url}: sha256 {actual} does not match the pinned "
                f"{asset.sha256} of {self._label(asset)}; the file was not kept"
            )
        os.replace(tmp, target)
        return target

    def _unpack_file_list(self, asset: AssetSpec, payload: bytes, target: Path) -> Path:
        """Extract the members under ``asset.member`` of a pinned repository tarball."""
        member = asset.member.strip("/") + "/"
        staging = Path(tempfile.mkdtemp(dir=target.parent))
        try:
            with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as archive:
                for info in archive.getmembers():
                    if not info.isfile() or not info.name.startswith(member):
                        continue
                    relative = info.name[len(member):]
                    if "/" in relative or relative.startswith("."):
                        continue
                    (staging / relative).write_bytes(archive.extractfile(info).read())
            actual = sha256_file_list(staging)
            if asset.sha256 and actual != asset.sha256:
                raise AssetError(
                    f"downloaded {asset.url}: files under {member} hash to {actual}, not the "
                    f"pinned {asset.sha256} of {self._label(asset)}; nothing was kept"
                )
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        return target

    def fetch_all(self) -> list[Path]:
        """Resolve every downloadable asset (user-provided ones are skipped)."""
        return [
            self.path(a.name)
            for a in self.spec.assets
            if a.url and a.kind not in ("directory", "hf_dataset")
        ]

    def verify(self) -> list[tuple[str, str]]:
        """``(asset name, status)`` for every asset: ``ok``, ``present (no pinned sha256)``,
        ``missing`` (a required file: a failure), ``optional, not present`` (skipped), or the
        error text. Nothing is downloaded."""
        report = []
        for asset in self.spec.assets:
            found = self.locate(asset.name)
            if found is None:
                report.append((asset.name, SKIPPED if asset.optional else MISSING))
                continue
            try:
                self._check(asset, found)
                report.append((asset.name, "ok" if asset.sha256 else "present (no pinned sha256)"))
            except AssetError as exc:
                report.append((asset.name, str(exc)))
        return report
