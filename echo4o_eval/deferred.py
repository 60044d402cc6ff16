"""Models and judges named by a spec string, built only when there is work for them.

A run first compares its configuration with the run directory's manifest, then looks at what
is left to do; a diffusers or Bagel pipeline, or a detector or local VLM judge, is loaded only
when some image still needs generating or judging. So a changed configuration is refused in
about a second, and re-running a finished run loads nothing. What the manifest needs before
loading is known without loading: a model's identity (its checkpoint's content signature or hub
revision, :mod:`echo4o_eval.models.identity`) and a judge's kind.

Example:
    >>> judge = DeferredJudge("owlv2-clip", {}, kind="detector")
    >>> judge.kind, judge.loaded, judge.describe()
    ('detector', False, {'spec': 'owlv2-clip', 'loaded': False})
    >>> deferred_judge("owlv2-clip", {"min_scor": 0})  # options are read now, not at load time
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: owlv2-clip judge option: unknown owlv2-clip judge option 'min_scor'; did you mean 'min_score'? (known: ...)
"""

from __future__ import annotations

from typing import Any, Mapping

# Kinds built lazily, with what is known before loading them.
DEFERRED_MODELS = frozenset({"diffusers", "bagel"})
DEFERRED_JUDGE_KINDS = {"mask2former-clip": "detector", "mmdet-clip": "detector",
                        "owlv2-clip": "detector", "local-vlm": "vlm"}


class _Deferred:
    """Builds ``self._factory()`` on first use; attributes it lacks are read from the object."""

    def __init__(self, spec: str, options: Mapping[str, Any]) -> None:
        self.id = spec
        self.spec = spec
        self.options = dict(options)
        self._object: Any = None

    @property
    def loaded(self) -> bool:
        """Whether the real object has been built."""
        return self._object is not None

    def get(self):
        """The real model or judge, built now if it was not yet."""
        if self._object is None:
            self._object = self._factory()
        return self._object

    def _factory(self):  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.get(), name)

    def describe(self) -> Mapping[str, Any]:
        """The real object's settings once built; before that, the spec."""
        if self._object is None:
            return {"spec": self.spec, "loaded": False}
        return self._object.describe()

    def close(self) -> None:
        """Close the real object if it was built."""
        if self._object is not None:
            self._object.close()


class DeferredModel(_Deferred):
    """A ``diffusers:``/``bagel:`` model loaded on its first generate() call.

    ``identity`` is computed from the spec before loading (the adapter computes the same).
    """

    generates = True

    def __init__(self, spec: str, options: Mapping[str, Any], identity: Mapping[str, Any],
                 kind: str, source: str) -> None:
        super().__init__(spec, options)
        self._identity = dict(identity)
        self.kind, self.source = kind, source  # e.g. ("diffusers", "/ckpt/sd3")

    def _factory(self):
        from echo4o_eval.factories import make_model

        # the kind is known: a bare path or Hub id is not recognised (listed on the Hub) again
        return make_model(f"{self.kind}:{self.source}", self.options)

    def identity(self) -> dict[str, Any]:
        """The weights' identity, known without loading them."""
        return dict(self._identity)

    def accepted_params(self) -> set[str]:
        """Generation parameter names the model uses: for a diffusers pipeline read without
        loading it (its class's call signature), else from the loaded model."""
        if self._object is None and self.kind == "diffusers":
            from echo4o_eval.models.diffusers_model import pipeline_params

            known = pipeline_params(self.source, self.options)
            if known is not None:
                return known
        return set(self.get().accepted_params())

    def generate(self, requests):
        """Load the model (first call only) and generate."""
        return self.get().generate(requests)


class DeferredJudge(_Deferred):
    """A heavy judge (detector, local VLM) loaded on its first judge() call."""

    def __init__(self, spec: str, options: Mapping[str, Any], kind: str) -> None:
        super().__init__(spec, options)
        self.kind = kind

    def _factory(self):
        from echo4o_eval.factories import make_judge

        judge = make_judge(self.spec, self.options)
        if judge.kind != self.kind:
            raise RuntimeError(f"judge {self.spec} is a {judge.kind} judge, expected {self.kind}")
        return judge

    def judge(self, requests):
        """Load the judge (first call only) and judge."""
        return self.get().judge(requests)


def deferred_model(spec: str, options: Mapping[str, Any]):
    """A DeferredModel for a heavy built-in kind, else None (the caller builds it now)."""
    from echo4o_eval.models.identity import source_identity
    from echo4o_eval.models.resolve import ModelSpecError, split_model_spec

    try:
        name, argument = split_model_spec(spec)
    except ModelSpecError:  # building it says what is wrong
        return None
    if name not in DEFERRED_MODELS or not argument:
        return None
    return DeferredModel(spec, options, source_identity(argument), name, argument)


def deferred_judge(spec: str, options: Mapping[str, Any]):
    """A DeferredJudge for a heavy built-in judge, else None (the caller builds it now)."""
    from echo4o_eval.catalog import split_spec
    from echo4o_eval.optional import check_judge_extras

    prefix = split_spec(spec)[0]
    check_judge_extras(prefix)  # a missing extra is an error now, not at load time
    kind = DEFERRED_JUDGE_KINDS.get(prefix)
    if kind is None:
        return None
    _read_judge_options(prefix, options)  # a misspelt option too, before any image is generated
    return DeferredJudge(spec, options, kind)


def _read_judge_options(prefix: str, options: Mapping[str, Any]) -> None:
    """Read the options of a deferred judge as its factory will (cheap: nothing is loaded);
    an unknown name or a value of the wrong type raises the factory's ConfigError."""
    from echo4o_eval.judges.detector_options import BACKEND_OPTIONS, parse_detector_options

    if prefix == "local-vlm":
        from echo4o_eval.judges.local_vlm import read_local_vlm_options

        read_local_vlm_options(options)
    elif prefix.endswith("-clip") and prefix.removesuffix("-clip") in BACKEND_OPTIONS:
        parse_detector_options(options, prefix.removesuffix("-clip"))  # "owlv2-clip": "owlv2"
