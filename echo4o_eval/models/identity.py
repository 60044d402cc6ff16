"""Model identity: what names a model's weights, so that other weights never reuse its images.

Every adapter reports ``identity() -> dict`` (JSON-able). It enters the run's generation
fingerprint and manifest, so two checkpoints under one ``--model`` spec are two runs, and the
same checkpoint again resumes (0 images regenerated). Sources, by kind of model:

* a checkpoint on disk: :func:`checkpoint_signature` - every file's size, a full sha256 of small
  files and, for weight files, a sha256 of the safetensors header plus three 1 MiB samples of the
  data (start, middle, end): cheap on a 30 GB checkpoint, and any fine-tuning changes it;
* a Hugging Face hub id: :func:`hub_identity` - the revision sha (from the local cache when
  offline or when the hub cannot be reached);
* an in-memory model (a pipeline being trained, a plain callable): the caller's ``model_id``
  and/or ``step`` (:func:`identity_of` refuses a model that has neither).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text("{}")
    >>> first = checkpoint_signature(folder)
    >>> _ = (folder / "config.json").write_text('{"changed": 1}')
    >>> first["signature"] != checkpoint_signature(folder)["signature"]
    True
    >>> identity_of(object(), step=200)
    {'step': 200}
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from pathlib import Path
from typing import Any, Mapping

FULL_HASH_BYTES = 64 * 1024 * 1024  # files up to this size are hashed whole
SAMPLE_BYTES = 1024 * 1024  # per sample of a larger file (three samples)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".msgpack", ".onnx")
MAX_FILES = 10_000  # a folder with more files is not a checkpoint
_SHA = re.compile(r"^[0-9a-f]{40}$")


class ModelIdentityError(ValueError):
    """A model whose weights cannot be named; the message says what to pass."""


def _file_digest(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= FULL_HASH_BYTES:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
            return "sha256:" + digest.hexdigest()
        start = 0
        if path.suffix == ".safetensors":  # the header names every tensor, dtype and offset
            (header_length,) = struct.unpack("<Q", handle.read(8))
            digest.update(handle.read(min(header_length, FULL_HASH_BYTES)))
            start = 8 + header_length
        for offset in (start, start + (size - start) // 2, max(start, size - SAMPLE_BYTES)):
            handle.seek(offset)
            digest.update(handle.read(SAMPLE_BYTES))
        return "sampled-sha256:" + digest.hexdigest()


def checkpoint_signature(path: str | Path) -> dict[str, Any]:
    """Content signature of a checkpoint file or folder (hidden files and folders skipped).

    Returns ``{"kind": "checkpoint", "path", "files", "bytes", "signature"}``; the signature is
    a sha256 over every file's relative path, size and digest (see the module docstring).
    """
    root = Path(path).expanduser().absolute()
    if not root.exists():
        raise ModelIdentityError(f"{root} does not exist: no checkpoint to take an identity from")
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if len(files) > MAX_FILES:
        raise ModelIdentityError(f"{root} holds more than {MAX_FILES} files; is it a checkpoint?")
    total = hashlib.sha256()
    size_sum = 0
    for file in files:
        size = file.stat().st_size
        size_sum += size
        name = file.name if file == root else file.relative_to(root).as_posix()
        total.update(f"{name}\0{size}\0{_file_digest(file, size)}\n".encode())
    return {"kind": "checkpoint", "path": str(root), "files": len(files), "bytes": size_sum,
            "signature": total.hexdigest()}


def _cached_revision(repo_id: str, revision: str) -> str | None:
    """The commit sha the local Hugging Face cache resolves ``revision`` to (None if not cached)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return None
    ref = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "refs" / revision
    try:
        sha = ref.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return sha if _SHA.match(sha) else None


def hub_identity(repo_id: str, revision: str | None = None) -> dict[str, Any]:
    """Identity of a hub repository: the commit sha ``revision`` (default ``main``) stands for.

    A sha given as ``revision`` is used as is; otherwise the hub is asked (unless
    ``HF_HUB_OFFLINE``), falling back on the local cache. When neither answers, the identity says
    so (``"sha": None``) and records the revision name asked for.
    """
    revision = revision or "main"
    if _SHA.match(revision):
        return resolved_hub_identity(repo_id, revision, revision)
    sha = None
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if not offline:
        try:
            from huggingface_hub import HfApi

            sha = HfApi().model_info(repo_id, revision=revision, timeout=10).sha
        except Exception:  # unreachable or gated: the cache may still know
            sha = None
    return resolved_hub_identity(repo_id, revision, sha or _cached_revision(repo_id, revision))


def resolved_hub_identity(repo_id: str, revision: str | None, sha: str | None) -> dict[str, Any]:
    """The identity :func:`hub_identity` gives once the commit ``sha`` that ``revision``
    (default ``main``) stands for is known (e.g. from a snapshot download): no revision name
    when the revision asked for is that sha.

    >>> resolved_hub_identity("org/m", None, "a" * 40)["revision"]
    'main'
    >>> sorted(resolved_hub_identity("org/m", "a" * 40, "a" * 40))
    ['kind', 'repo_id', 'sha']
    """
    revision = revision or "main"
    if revision == sha:
        return {"kind": "hub", "repo_id": repo_id, "sha": sha}
    return {"kind": "hub", "repo_id": repo_id, "revision": revision, "sha": sha}


def source_identity(source: str) -> dict[str, Any]:
    """Identity of a ``diffusers``/``bagel`` source: a local path's signature or a hub id's sha
    (of the ``@REV`` the spec pins, else ``main``)."""
    if Path(source).expanduser().exists():
        return checkpoint_signature(source)
    from echo4o_eval.models.hub import expand_alias, split_revision

    repo_id, pinned = split_revision(expand_alias(source))  # "echo4o", "ORG/NAME@REV"
    return hub_identity(repo_id, pinned)


def identity_of(model: Any, model_id: str | None = None, step: int | None = None,
                spec: str | None = None) -> dict[str, Any]:
    """The identity recorded for ``model``: its ``identity()`` plus the caller's ``model_id``/``step``.

    A model that cannot name its weights (no ``identity()``, or one returning None, as an
    in-memory pipeline does) needs ``model_id`` or ``step``; without them this raises
    ModelIdentityError saying so. A model built from a spec string (``spec``: an image API,
    a plugin adapter without ``identity()``) is named by that spec instead.

    >>> identity_of(object())
    Traceback (most recent call last):
    ...
    echo4o_eval.models.identity.ModelIdentityError: cannot tell which weights the model object is (it has no identity()); pass model_id="NAME" and/or step=N (e.g. the training step) so that other weights never reuse its images
    """
    method = getattr(model, "identity", None)
    own = method() if callable(method) else None
    given = {k: v for k, v in (("model_id", model_id), ("step", step)) if v is not None}
    if own is None and not given and spec:
        own = {"kind": "spec", "spec": spec}
    if own is None and not given:
        what = "it has no identity()" if method is None else "it has no checkpoint on disk"
        name = getattr(model, "id", None) or type(model).__name__
        name = "the model object" if name == "object" else repr(name)
        raise ModelIdentityError(
            f"cannot tell which weights {name} is ({what}); pass model_id=\"NAME\" and/or "
            "step=N (e.g. the training step) so that other weights never reuse its images"
        )
    if own is not None and not isinstance(own, Mapping):
        raise ModelIdentityError(f"{type(model).__name__}.identity() returned {own!r}; it must return a dict")
    return {**dict(own or {}), **given}
