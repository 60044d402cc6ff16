"""The one ``--model`` grammar: turn a spec string into an ImageModel.

Forms (see :func:`describe_model_grammar`, which ``--help`` and the README print):

* ``PATH``                    recognised by its contents: a Bagel/Echo-4o checkpoint folder, a
                              diffusers pipeline folder (``model_index.json``) or a folder of images
* ``ORG/NAME[@REVISION]``     a Hugging Face Hub repo, recognised by its file list (Bagel/Echo-4o
                              checkpoint or diffusers pipeline); ``echo4o`` and ``bagel`` are
                              aliases of the official Yejy53/Echo-4o and ByteDance-Seed/BAGEL-7B-MoT
* ``bagel:PATH_OR_HUB_ID``    Bagel / Echo-4o checkpoint (Bagel's code is fetched at a pinned commit)
* ``diffusers:HUB_ID_OR_PATH`` any diffusers pipeline
* ``folder:PATH``             existing images, nothing is generated
* ``openai:MODEL``            an image API model (images.generate / images.edit)
* ``NAME[:ARGUMENT]``         any other MODELS registry entry, including third-party adapters
                              installed through the ``echo4o_eval.models`` entry-point group

An existing path always wins over a prefix reading, so ``./runs:v2`` is a path.

Example:
    >>> recognise_path("/nonexistent/ckpt")
    Traceback (most recent call last):
    ...
    echo4o_eval.models.resolve.ModelSpecError: /nonexistent/ckpt does not exist
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "model_index.json").write_text("{}")
    >>> recognise_path(folder)
    'diffusers'
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Mapping

from echo4o_eval.catalog import MODELS
from echo4o_eval.models.hub import ALIASES, HubError, looks_like_repo_id, repo_files, split_revision
from echo4o_eval.registry import UnknownNameError

BAGEL_FILES = ("llm_config.json", "vit_config.json", "ae.safetensors", "ema.safetensors")
TOKENIZER_FILE_SETS = (("tokenizer.json",), ("vocab.json", "merges.txt"))
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
IMAGE_SCAN_DEPTH = 3  # GenEval's layout puts images at DIR/00000/samples/0000.png
IMAGE_SCAN_LIMIT = 5000  # directory entries looked at before giving up
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class ModelSpecError(ValueError):
    """A ``--model`` value that names no usable model; the message says what was looked for."""


def bagel_checkpoint_problems(path: str | Path) -> list[str]:
    """What a Bagel/Echo-4o checkpoint folder lacks (empty when it is complete).

    >>> bagel_checkpoint_problems("/nonexistent")[0]
    'missing llm_config.json'
    """
    folder = Path(path)
    problems = [f"missing {name}" for name in BAGEL_FILES if not (folder / name).is_file()]
    if not any(all((folder / name).is_file() for name in names) for names in TOKENIZER_FILE_SETS):
        problems.append("missing tokenizer files (tokenizer.json, or vocab.json + merges.txt)")
    return problems


def _has_images(folder: Path) -> bool:
    seen = 0
    level = [folder]
    for _ in range(IMAGE_SCAN_DEPTH):
        next_level = []
        for directory in level:
            try:
                entries = sorted(directory.iterdir())
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > IMAGE_SCAN_LIMIT:
                    return False
                if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
                    return True
                if entry.is_dir() and not entry.name.startswith("."):
                    next_level.append(entry)
        level = next_level
    return False


def recognise_path(path: str | Path) -> str:
    """The MODELS entry a bare path stands for: ``"bagel"``, ``"diffusers"`` or ``"folder"``."""
    folder = Path(path)
    if not folder.exists():
        raise ModelSpecError(f"{folder} does not exist")
    if not folder.is_dir():
        raise ModelSpecError(
            f"{folder} is a file; --model takes a folder (Bagel/Echo-4o checkpoint, diffusers "
            "pipeline or images) or PREFIX:ARGUMENT"
        )
    bagel_problems = bagel_checkpoint_problems(folder)
    if not bagel_problems:
        return "bagel"
    if (folder / "model_index.json").is_file():
        return "diffusers"
    present = [name for name in BAGEL_FILES if (folder / name).is_file()]
    if present:
        raise ModelSpecError(
            f"{folder} looks like a Bagel/Echo-4o checkpoint (has {', '.join(present)}) but is "
            f"incomplete: {'; '.join(bagel_problems)}"
        )
    if _has_images(folder):
        return "folder"
    raise ModelSpecError(
        f"{folder} is not a model folder. Looked for: a Bagel/Echo-4o checkpoint "
        f"({', '.join(BAGEL_FILES)} and tokenizer files), a diffusers pipeline (model_index.json), "
        f"or image files ({', '.join(IMAGE_SUFFIXES)}) up to {IMAGE_SCAN_DEPTH} folders deep. "
        "Name the kind explicitly, e.g. folder:PATH, if that is what you meant."
    )


def recognise_repo(spec: str) -> str:
    """The MODELS entry a Hub repo (``ORG/NAME[@REVISION]``) stands for, from its file list:
    ``"bagel"`` for a Bagel/Echo-4o checkpoint, ``"diffusers"`` for a pipeline.

    Offline (``HF_HUB_OFFLINE=1``) the list comes from the Hugging Face cache; a repo that is
    neither cached nor reachable is a ModelSpecError saying so and how to pre-download it.
    """
    repo_id, revision = split_revision(spec)
    try:
        files = set(repo_files(repo_id, revision))
    except HubError as exc:
        raise ModelSpecError(str(exc)) from exc
    present = [name for name in BAGEL_FILES if name in files]
    if len(present) == len(BAGEL_FILES):
        return "bagel"
    if "model_index.json" in files:
        return "diffusers"
    if present:
        missing = [name for name in BAGEL_FILES if name not in files]
        raise ModelSpecError(f"Hub repo {repo_id} looks like a Bagel/Echo-4o checkpoint (has "
                             f"{', '.join(present)}) but lacks {', '.join(missing)}")
    raise ModelSpecError(
        f"Hub repo {repo_id} is neither a Bagel/Echo-4o checkpoint ({', '.join(BAGEL_FILES)}) nor "
        "a diffusers pipeline (model_index.json); name the adapter explicitly (NAME:ARGUMENT) if "
        "a plugin handles it"
    )


def split_model_spec(spec: str) -> tuple[str, str]:
    """``(registry name, argument)`` for a spec, recognising existing paths by their contents.

    >>> split_model_spec("diffusers:stabilityai/stable-diffusion-3.5-medium")
    ('diffusers', 'stabilityai/stable-diffusion-3.5-medium')
    """
    if not spec:
        raise ModelSpecError("empty --model; " + _short_grammar())
    if Path(spec).exists():
        return recognise_path(spec), spec
    prefix, sep, argument = spec.partition(":")
    if sep and _PREFIX.match(prefix):
        if prefix in MODELS:
            return prefix, argument
        close = difflib.get_close_matches(prefix, MODELS.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(c + ':' for c in close)}?" if close else ""
        raise ModelSpecError(
            f"unknown model kind {prefix!r} in {spec!r}{hint} (known: "
            f"{', '.join(MODELS.names())}); and no path {spec!r} exists"
        )
    if not sep and spec.lower() in ALIASES:
        return "bagel", ALIASES[spec.lower()]  # the official Bagel / Echo-4o repos
    if not sep and spec in MODELS:
        return spec, ""
    if looks_like_repo_id(spec):
        return recognise_repo(spec), spec
    raise ModelSpecError(f"{spec!r} is neither an existing path nor a model spec; " + _short_grammar())


def resolve_model(spec: str, options: Mapping[str, Any] | None = None):
    """Build the ImageModel that ``spec`` names, passing ``options`` to its factory.

    >>> resolve_model("difusers:x", {})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    echo4o_eval.models.resolve.ModelSpecError: unknown model kind 'difusers' in 'difusers:x'; did you mean diffusers:? ...
    """
    name, argument = split_model_spec(spec)
    try:
        factory = MODELS.get(name)
    except UnknownNameError as exc:  # raced with a plugin registry change; keep the message
        raise ModelSpecError(str(exc)) from exc
    return factory(argument, dict(options or {}))


def _short_grammar() -> str:
    return ("expected PATH, ORG/NAME (Hub), echo4o, bagel, bagel:PATH_OR_HUB_ID, "
            "diffusers:HUB_ID_OR_PATH, folder:PATH, openai:MODEL or NAME[:ARGUMENT] "
            "(see echo4o-eval run --help)")


def describe_model_grammar() -> str:
    """The ``--model`` grammar as plain text for ``--help`` and the README."""
    builtin = {"bagel", "diffusers", "folder", "openai"}
    others = [name for name in MODELS.names() if name not in builtin]
    lines = [
        "--model takes one of:",
        "  PATH                      a folder, recognised by its contents:",
        "                              Bagel/Echo-4o checkpoint (llm_config.json, vit_config.json,",
        "                              ae.safetensors, ema.safetensors, tokenizer files),",
        "                              diffusers pipeline (model_index.json), or images",
        "  ORG/NAME[@REVISION]       a Hugging Face Hub repo, recognised by its files (Bagel/Echo-4o",
        "                              checkpoint or diffusers pipeline) and downloaded; offline, the",
        "                              Hugging Face cache is used (pre-download: hf download ORG/NAME)",
        "  echo4o, bagel             aliases of Yejy53/Echo-4o and ByteDance-Seed/BAGEL-7B-MoT",
        "  bagel:PATH_OR_HUB_ID      Bagel / Echo-4o checkpoint; Bagel's code is downloaded at a",
        "                              pinned commit, or taken from --model-option bagel_repo=DIR or",
        "                              $ECHO4O_BAGEL_REPO; without flash-attn a PyTorch fallback runs",
        "  diffusers:HUB_ID_OR_PATH  any diffusers pipeline (DiffusionPipeline.from_pretrained)",
        "  folder:PATH               existing images (nothing is generated)",
        "  openai:MODEL              an image API model (images.generate / images.edit)",
        "  NAME[:ARGUMENT]           a registered or plugin adapter (entry-point group",
        "                              echo4o_eval.models)" + (f": {', '.join(others)}" if others else ""),
        "An existing path always wins over the PREFIX: reading.",
    ]
    return "\n".join(lines)
