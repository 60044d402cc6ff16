"""Models straight from the Hugging Face Hub: aliases, recognising a repo by its files, downloads.

``--model Yejy53/Echo-4o`` (or ``echo4o``, ``bagel``, ``bagel:ORG/NAME``) needs three things
this module does with ``huggingface_hub``:

* :func:`expand_alias` maps the known short names to their official repos (:data:`ALIASES`);
* :func:`repo_files` lists a repo's files, online through the Hub API, offline
  (``HF_HUB_OFFLINE=1``) from the local Hugging Face cache, so the resolver can tell a Bagel
  checkpoint (``llm_config.json``, ``vit_config.json``, ``ae.safetensors``, ``ema.safetensors``)
  from a diffusers pipeline (``model_index.json``) by content, never by name;
* :func:`download_snapshot` fetches (or finds in the cache) the files and returns the folder and
  the commit sha it holds, which enters the model identity.

Unreachable Hub, offline mode, gated or private repos fail fast with a :class:`HubError` that says
which of these it is and what to do (``hf auth login``, ``hf download ORG/NAME``, a local folder):
one quick probe of the Hub decides "unreachable" before any call that would retry for half a
minute.

Example:
    >>> expand_alias("echo4o")
    'Yejy53/Echo-4o'
    >>> looks_like_repo_id("Yejy53/Echo-4o"), looks_like_repo_id("./runs/x"), looks_like_repo_id("a/b/c")
    (True, False, False)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

ALIASES = {
    "echo4o": "Yejy53/Echo-4o",
    "bagel": "ByteDance-Seed/BAGEL-7B-MoT",
}
PROBE_TIMEOUT_S = 5.0
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_SHA = re.compile(r"[0-9a-f]{40}")


class HubError(RuntimeError):
    """The Hub could not give us a repo; the message says why and what to do."""


def expand_alias(name: str) -> str:
    """The official repo for a known alias (``echo4o``, ``bagel``), else ``name`` unchanged."""
    return ALIASES.get(name.strip().lower(), name)


def looks_like_repo_id(text: str) -> bool:
    """True for ``ORG/NAME`` (optionally ``ORG/NAME@REVISION``)."""
    repo, _ = split_revision(text)
    return bool(_REPO_ID.fullmatch(repo)) and ".." not in repo


def split_revision(text: str) -> tuple[str, str | None]:
    """``ORG/NAME@REV`` -> ``("ORG/NAME", "REV")``; no ``@`` -> revision None.

    >>> split_revision("Yejy53/Echo-4o@abc123")
    ('Yejy53/Echo-4o', 'abc123')
    """
    repo, sep, revision = text.partition("@")
    return repo, (revision or None) if sep else None


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set (huggingface_hub's own reading of it)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def probe_hub(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when the Hub endpoint answers within ``timeout`` seconds, else why it did not."""
    from huggingface_hub import constants, get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception as exc:  # DNS, refused, timeout, proxy: all mean "unreachable" here
        return f"{type(exc).__name__}: {exc}"
    return None


def _download_hint(repo_id: str) -> str:
    return (f"pre-download it where the Hub is reachable with `hf download {repo_id}` (it lands in "
            "the Hugging Face cache, found offline), or pass a local checkpoint folder")


def _cached_snapshot(repo_id: str, revision: str | None) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError) or an unusable cache entry
        return None


def _explain(repo_id: str, error: Exception) -> HubError:
    from huggingface_hub import errors

    if isinstance(error, errors.GatedRepoError):
        return HubError(
            f"{repo_id} is a gated repo: accept its terms at https://huggingface.co/{repo_id}, "
            "then log in with `hf auth login` (or set HF_TOKEN) and run again")
    if isinstance(error, errors.RevisionNotFoundError):
        return HubError(f"{repo_id} has no such revision ({error})")
    if isinstance(error, errors.RepositoryNotFoundError):
        return HubError(
            f"{repo_id} was not found on the Hub: check the name, or if it is private log in with "
            "`hf auth login` (or set HF_TOKEN)")
    return HubError(f"the Hub did not answer for {repo_id} ({type(error).__name__}: {error}); "
                    + _download_hint(repo_id))


def _unreachable(repo_id: str, why: str) -> HubError:
    return HubError(f"cannot reach the Hugging Face Hub for {repo_id} ({why}) and it is not in "
                    f"the local cache; {_download_hint(repo_id)}")


def _offline_error(repo_id: str) -> HubError:
    return HubError(f"HF_HUB_OFFLINE is set and {repo_id} is not in the Hugging Face cache; "
                    + _download_hint(repo_id))


def repo_files(repo_id: str, revision: str | None = None) -> list[str]:
    """Paths of the files in a Hub model repo (from the cache when offline or unreachable).

    Raises HubError saying whether the Hub was offline, unreachable, or the repo gated/missing.
    """
    from huggingface_hub import HfApi

    if hub_offline():
        cached = _cached_snapshot(repo_id, revision)
        if cached is None:
            raise _offline_error(repo_id)
        return _local_files(cached)
    why = probe_hub()
    if why is not None:
        cached = _cached_snapshot(repo_id, revision)
        if cached is None:
            raise _unreachable(repo_id, why)
        return _local_files(cached)
    try:
        return list(HfApi().list_repo_files(repo_id, revision=revision))
    except Exception as exc:
        raise _explain(repo_id, exc) from exc


def _local_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)).replace("\\", "/") for p in folder.rglob("*")
                  if p.is_file())


def download_snapshot(repo_id: str, revision: str | None = None,
                      allow_patterns: Sequence[str] | None = None) -> tuple[Path, str | None]:
    """``(local folder, commit sha)`` of a repo snapshot, downloading what the cache lacks.

    The sha is the snapshot folder's name (huggingface_hub names snapshots by commit), None
    if the folder is not a cache snapshot.
    """
    from huggingface_hub import snapshot_download

    patterns = list(allow_patterns) if allow_patterns else None
    if hub_offline():
        cached = _cached_snapshot(repo_id, revision)
        if cached is None:
            raise _offline_error(repo_id)
        return cached, _sha_of(cached)
    why = probe_hub()
    if why is not None:
        cached = _cached_snapshot(repo_id, revision)
        if cached is None:
            raise _unreachable(repo_id, why)
        return cached, _sha_of(cached)
    try:
        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
    except Exception as exc:
        raise _explain(repo_id, exc) from exc
    return folder, _sha_of(folder)


def _sha_of(folder: Path) -> str | None:
    return folder.name if _SHA.fullmatch(folder.name) else None
