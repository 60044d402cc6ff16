"""The three registries of the toolkit: models, judges and benchmarks.

Model and judge entries are factories ``factory(argument: str, options: dict) -> object``
selected by the prefix of a spec string: ``folder:/imgs`` calls the ``folder`` factory with
``"/imgs"``. Benchmark entries are :class:`~echo4o_eval.spec.Benchmark` objects (or
zero-argument callables returning one); the built-in ones are found one per folder of
``benchmarks/`` (``echo4o_eval.benchmarks.<id>:benchmark``). Entries are lazy "module:attr"
strings, so nothing heavy is imported until used. Third-party packages add entries through
the entry-point groups ``echo4o_eval.models``, ``echo4o_eval.judges`` and
``echo4o_eval.benchmarks`` (see docs/plugins.md).

Example:
    >>> split_spec("openai:gpt-4.1")
    ('openai', 'gpt-4.1')
    >>> "folder" in MODELS
    True
"""

from __future__ import annotations

from echo4o_eval.registry import Registry


def builtin_benchmarks() -> dict[str, tuple[str, str]]:
    """``{id: ("echo4o_eval.benchmarks.<id>:benchmark", source)}`` for every folder of the
    built-in benchmarks that holds a benchmark.yaml (a new folder needs no entry here)."""
    from importlib import resources

    root = resources.files("echo4o_eval.benchmarks")
    found = {}
    for folder in sorted(root.iterdir(), key=lambda f: f.name):
        if folder.is_dir() and folder.joinpath("benchmark.yaml").is_file():
            found[folder.name] = (f"echo4o_eval.benchmarks.{folder.name}:benchmark",
                                  f"built-in benchmarks/{folder.name}")
    return found


MODELS: Registry = Registry("model", entry_point_group="echo4o_eval.models")
JUDGES: Registry = Registry("judge", entry_point_group="echo4o_eval.judges")
BENCHMARKS: Registry = Registry("benchmark", entry_point_group="echo4o_eval.benchmarks",
                                builtins=builtin_benchmarks)

MODELS.register_lazy("folder", "echo4o_eval.models.folder:make_folder_model")
MODELS.register_lazy("openai", "echo4o_eval.models.openai_images:make_openai_image_model")
MODELS.register_lazy("diffusers", "echo4o_eval.models.diffusers_model:make_diffusers_model")
MODELS.register_lazy("bagel", "echo4o_eval.models.bagel:make_bagel_model")

JUDGES.register_lazy("detections", "echo4o_eval.judges.detections_file:make_detections_judge")
JUDGES.register_lazy("openai", "echo4o_eval.judges.openai_judge:make_openai_judge")
JUDGES.register_lazy("local-vlm", "echo4o_eval.judges.local_vlm:make_local_vlm_judge")
JUDGES.register_lazy("mask2former-clip", "echo4o_eval.judges.mask2former:make_mask2former_clip_judge")
JUDGES.register_lazy("mmdet-clip", "echo4o_eval.judges.mmdet_backend:make_mmdet_clip_judge")
JUDGES.register_lazy("owlv2-clip", "echo4o_eval.judges.owlv2:make_owlv2_clip_judge")


def split_spec(spec: str) -> tuple[str, str]:
    """Split ``"prefix:argument"``; a spec without a colon has an empty argument.

    >>> split_spec("mask2former-clip")
    ('mask2former-clip', '')
    """
    prefix, sep, argument = spec.partition(":")
    return (prefix, argument) if sep else (spec, "")
