"""Run manifests: every setting of a run, its config fingerprint, and its default location.

The fingerprint covers what changes results (benchmark version and variant, model and judge
settings, evaluator options, seeds, images per prompt, generation parameters) and nothing
that does not (the sample limit, progress bars, paths of the run itself). API keys never
enter a manifest: options whose name looks like a secret are refused outright.

Example:
    >>> slug("folder:/data/my imgs")
    'folder-data-my-imgs'
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

from echo4o_eval.rundir.store import fingerprint

# Options that change how fast or where work runs, not what it produces: excluded from the
# fingerprint so that e.g. raising --judge-option concurrency resumes the same run.
OPERATIONAL_OPTIONS = frozenset({
    "concurrency", "rpm", "tpm", "max_retries", "timeout", "cache_dir", "batch_size", "device",
    "num_workers", "prices", "api_key_env", "progress",
    # API engine: where the server lives and how patiently we retry never decide an answer
    "base_url", "backoff_base", "backoff_cap", "retry_after_cap", "rate_limit_retries", "cache",
    "workers", "adaptive", "stored_reply_chars",
})
SECRET_NAMES = re.compile(r"(api[_-]?key|secret|token|password)$", re.IGNORECASE)
PACKAGES = ("echo4o-eval", "torch", "transformers", "diffusers", "open_clip_torch", "openai", "numpy")


def slug(text: str, limit: int = 60) -> str:
    """A short file-name-safe form of a spec string."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return cleaned[-limit:] or "run"


def check_no_secrets(options: Mapping[str, Any], where: str) -> None:
    """Refuse options that carry a secret value (keys are passed by env var name only).

    >>> check_no_secrets({"api_key": "sk-1"}, "--judge-option")
    Traceback (most recent call last):
    ...
    ValueError: --judge-option api_key looks like a secret; pass the NAME of an environment variable instead (e.g. api_key_env=OPENAI_API_KEY)
    """
    for name in options:
        if SECRET_NAMES.search(str(name)):
            raise ValueError(
                f"{where} {name} looks like a secret; pass the NAME of an environment variable "
                "instead (e.g. api_key_env=OPENAI_API_KEY)"
            )


SECRET_VALUES = re.compile(
    r"(\bsk-[A-Za-z0-9_-]{8,}|\bhf_[A-Za-z0-9]{10,}|://[^/\s@]+@|[?&](api[_-]?key|key|token|sig|signature)=)",
    re.IGNORECASE,
)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_no_secret_values(options: Mapping[str, Any], where: str) -> None:
    """Refuse option values that look like credentials (keys, tokens, user:pass@ in URLs).

    The value itself is never repeated in the message.

    >>> check_no_secret_values({"base_url": "https://u:p@host/v1"}, "--judge-option")
    Traceback (most recent call last):
    ...
    ValueError: --judge-option base_url looks like it holds a credential; pass secrets through an environment variable named by api_key_env, never on the command line
    >>> check_no_secret_values({"api_key_env": "sk-abcdefghijkl"}, "--judge-option")
    Traceback (most recent call last):
    ...
    ValueError: --judge-option api_key_env must be the NAME of an environment variable (letters, digits, _)
    """
    for name, value in options.items():
        if name == "api_key_env":
            if not ENV_NAME.match(str(value)):
                raise ValueError(
                    f"{where} api_key_env must be the NAME of an environment variable (letters, digits, _)"
                )
            continue
        if isinstance(value, str) and SECRET_VALUES.search(value):
            raise ValueError(
                f"{where} {name} looks like it holds a credential; pass secrets through an "
                "environment variable named by api_key_env, never on the command line"
            )


def check_config_secrets(config) -> None:
    """Run every secret check on a RunConfig before anything is loaded or written."""
    for options, where in ((config.model_options, "--model-option"), (config.judge_options, "--judge-option"),
                           (config.evaluator_options, "--eval-option"), (config.generation_params, "--gen-param")):
        check_no_secrets(options, where)
        check_no_secret_values(options, where)


def default_run_dir(config, judge_spec: str, benchmark_id: str | None = None) -> Path:
    """``<runs_root>/<benchmark>[-<variant>]/<model or model_id>[__step-<k>]__<judge>``."""
    benchmark_id = benchmark_id or str(config.benchmark)
    bench = benchmark_id + (f"-{config.variant}" if config.variant else "")
    judge = "generate-only" if config.generate_only else slug(judge_spec, 30)
    model = slug(getattr(config, "model_id", None) or config.model)
    step = getattr(config, "step", None)
    if step is not None:
        model += f"__step-{step}"
    return Path(config.runs_root) / bench / f"{model}__{judge}"


def package_versions() -> dict[str, str]:
    """Python's version and the installed version of each package in PACKAGES (missing: left out)."""
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_revision() -> str | None:
    """The project's git revision when running from a checkout (None otherwise)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def result_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that can change results (operational ones dropped).

    >>> result_options({"concurrency": 32, "temperature": 0})
    {'temperature': 0}
    """
    return {k: v for k, v in options.items() if k not in OPERATIONAL_OPTIONS}


def build_manifest(config, runner, model, judge, evaluator, judge_spec: str,
                   identity: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of a run; its fingerprints decide whether a run dir can be resumed.

    ``generation_fingerprint`` covers what decides the images (the model's identity among
    them: :mod:`echo4o_eval.models.identity`); ``fingerprint`` adds the judge and the scoring
    options.
    """
    check_config_secrets(config)
    spec = runner.spec
    generation = {
        "benchmark": spec.key,
        "variant": config.variant,
        "model": {"spec": config.model, "options": result_options(config.model_options),
                  "identity": None if identity is None else dict(identity)},
        "images_per_prompt": runner.images_per_prompt,
        "base_seed": runner.base_seed,
        "generation_params": runner.generation_params,
    }
    fingerprinted = {
        **generation,
        "mode": config.mode,
        "judge": None if judge is None else {"spec": judge_spec, "options": result_options(config.judge_options)},
        "evaluator_options": None if evaluator is None else dict(evaluator.options),
    }
    return {
        **fingerprinted,
        "fingerprint": fingerprint(fingerprinted),
        "generation_fingerprint": fingerprint(generation),
        "model_settings": dict(model.describe()),
        "judge_settings": None if judge is None else dict(judge.describe()),
        "model_options": dict(config.model_options),
        "judge_options": dict(config.judge_options),
        "benchmark_id": spec.id,
        "benchmark_version": spec.version,
        "judge_kind": None if judge is None else getattr(judge, "kind", None),  # reports re-aggregate
        "seed_rule": "seed = sha256(f'{base_seed}/{sample_id}/{image_index}')[:8] & 0x7fffffff",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "git_revision": git_revision(),
        "world_size": runner.rank.world_size,
    }


FINGERPRINTED = ("benchmark", "variant", "model", "images_per_prompt", "base_seed",
                 "generation_params", "mode", "judge", "evaluator_options")


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 12) -> list[str]:
    """``setting: old -> new`` for every fingerprinted setting that differs (dotted names).

    >>> describe_changes({"model": {"identity": {"step": 100}}, "base_seed": 0},
    ...                  {"model": {"identity": {"step": 200}}, "base_seed": 0})
    ['model.identity.step: 100 -> 200']
    >>> describe_changes({"generation_params": {}}, {"generation_params": {"steps": 4}})
    ['generation_params.steps: (not set) -> 4']
    """
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key in FINGERPRINTED:
        _flatten(old.get(key), key, before)
        _flatten(new.get(key), key, after)
    missing = object()
    lines = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name, missing), after.get(name, missing)
        nested = any(key.startswith(name + ".") for key in (after if b is missing else before))
        if a != b and not (nested and (a is None or b is None or a is missing or b is missing)):
            lines.append(f"{name}: {_short(a, missing)} -> {_short(b, missing)}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return lines


def _short(value: Any, missing: object) -> str:
    if value is missing:
        return "(not set)"
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_resumable(run_dir: str | Path, manifest: Mapping[str, Any]) -> None:
    """Refuse, before anything is loaded, a run directory made with another configuration.

    Accepted like :meth:`echo4o_eval.rundir.store.RunStore.initialise` accepts: the same fingerprint,
    or the same images with a judge added (or dropped, for ``--generate-only``). The error names
    each changed setting with its old and new value.
    """
    from echo4o_eval.rundir.store import RunConfigChanged, RunStore, generation_fingerprint_of

    store = RunStore(run_dir)
    if not store.exists():
        return
    old = store.read_manifest()
    if old.get("fingerprint") == manifest.get("fingerprint"):
        return
    if generation_fingerprint_of(old) == generation_fingerprint_of(manifest) and (
            manifest.get("judge") is None or old.get("judge") is None):
        return
    changes = describe_changes(old, manifest) or ["(settings not recorded by this version)"]
    raise RunConfigChanged(
        f"{store.run_dir} was made with a different configuration:\n  " + "\n  ".join(changes)
        + "\nPass --new-run (new_run=True) to start a fresh run next to it, or --run-dir "
        "(run_dir=) to choose another directory."
    )
