"""A local VLM judge through transformers (Qwen2.5-VL, Idefics3, SmolVLM and other
image-text-to-text models with a chat template), behind the same Judge protocol as the API
judge, for users without an API.

Spec ``local-vlm:PATH_OR_HUB_ID``; options are the fields of :class:`LocalVLMOptions` (an
unknown name or a value of the wrong type is an error): device ("auto": cuda when available), dtype
("auto", "bf16", "fp16", "fp32"), max_new_tokens (default 512; a request's ``max_tokens``
param wins unless the user set this), parse_retries (re-asks after an unusable reply: the first
answer is greedy, re-asks sample at temperature 0.7 with a fixed seed so runs repeat),
image_max_side, seed. Structured output is not enforced locally; replies are parsed by the
request's parser like any other, and a reply that never parses is a parse_error.

Example:
    >>> judge = LocalVLMJudge("/models/tiny-vlm", {"dtype": "fp32", "max_new_tokens": "64"})
    >>> judge.id, judge.kind, judge.describe()["max_new_tokens"]
    ('local-vlm:/models/tiny-vlm', 'vlm', 64)
    >>> LocalVLMJudge("/models/tiny-vlm", {"max_new_token": 64})
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: local-vlm judge option: unknown local-vlm judge option 'max_new_token'; did you mean 'max_new_tokens'? (known: device, dtype, max_new_tokens, parse_retries, image_max_side, seed)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

from echo4o_eval.adapter_options import adapter_options, given_options
from echo4o_eval.judges.vlm_messages import load_image, prompt_hash
from echo4o_eval.optional import require_module
from echo4o_eval.records.types import JudgeRequest, Judgement, Status

_DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
           "fp32": "float32", "float32": "float32"}


@dataclass(frozen=True)
class LocalVLMOptions:
    """Settings of the ``local-vlm:PATH`` judge (``--judge-option KEY=VALUE``; CLI text is read
    for each field's type). An unknown name is an error with a did-you-mean."""

    device: str = "auto"  # "auto": cuda when available, else cpu
    dtype: str = "auto"  # auto, bf16, fp16 or fp32 (also bfloat16, float16, float32)
    max_new_tokens: int = 512  # set explicitly, it beats a request's max_tokens
    parse_retries: int = 2  # re-asks (sampled, seeded) after a reply the parser cannot read
    image_max_side: int | None = None  # downscale images whose longer side exceeds this
    seed: int = 0  # re-ask number k samples with seed + k

    def __post_init__(self) -> None:
        if self.dtype != "auto" and self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be auto, bf16, fp16 or fp32, not {self.dtype!r}")


def read_local_vlm_options(options: Mapping[str, Any] | None) -> LocalVLMOptions:
    """``options`` as LocalVLMOptions (cheap: no model is loaded, so a typo is found early).

    >>> read_local_vlm_options({"max_new_tokens": "64"}).max_new_tokens
    64
    """
    return adapter_options(LocalVLMOptions, options, "local-vlm judge option")


class LocalVLMJudge:
    """VLM judge running a local transformers model (see the module docstring for options)."""

    kind = "vlm"

    def __init__(self, path: str, options: Mapping[str, Any] | None = None) -> None:
        if not path:
            raise ValueError("the local VLM judge needs a model path or hub id: --judge local-vlm:PATH")
        settings = read_local_vlm_options(options)
        self.user_options = given_options(settings, options)
        self.options = {f.name: getattr(settings, f.name) for f in fields(settings)
                        if f.default is not None or f.name in self.user_options}
        self.path = path
        self.id = f"local-vlm:{path}"
        self._model = None
        self._processor = None

    def _load(self):
        if self._model is None:
            torch = require_module("torch", extra="vlm")
            transformers = require_module("transformers", extra="vlm")
            device = self.options["device"]
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype = "auto" if self.options["dtype"] == "auto" else getattr(torch, _DTYPES[self.options["dtype"]])
            self._processor = transformers.AutoProcessor.from_pretrained(self.path)
            model = transformers.AutoModelForImageTextToText.from_pretrained(self.path, dtype=dtype)
            self._model = model.to(device).eval()
            self._device = device
        return self._model, self._processor

    def _messages(self, request: JudgeRequest) -> list[dict[str, Any]]:
        messages = []
        if request.system is not None:
            messages.append({"role": "system", "content": [{"type": "text", "text": request.system}]})
        content = [{"type": "text", "text": request.text}] + [{"type": "image"} for _ in request.images]
        messages.append({"role": "user", "content": content})
        return messages

    def _ask(self, request: JudgeRequest, attempt: int) -> tuple[str, dict[str, int]]:
        import torch

        model, processor = self._load()
        images = [load_image(p, request.crop if i == len(request.images) - 1 else None,
                             self.options.get("image_max_side")) for i, p in enumerate(request.images)]
        text = processor.apply_chat_template(self._messages(request), add_generation_prompt=True)
        inputs = processor(text=[text], images=[images] if images else None, return_tensors="pt")
        inputs = {k: v.to(self._device) if hasattr(v, "to") else v for k, v in inputs.items()}
        max_new = self.user_options.get("max_new_tokens") or request.params.get("max_tokens") \
            or self.options["max_new_tokens"]
        sampling = {"do_sample": False}
        if attempt > 0:  # a greedy re-ask would repeat the same unusable reply
            torch.manual_seed(self.options["seed"] + attempt)
            sampling = {"do_sample": True, "temperature": 0.7}
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=int(max_new), **sampling)
        prompt_len = inputs["input_ids"].shape[1]
        reply = processor.batch_decode(output[:, prompt_len:], skip_special_tokens=True)[0]
        return reply, {"prompt_tokens": int(prompt_len), "completion_tokens": int(output.shape[1] - prompt_len)}

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgement]:
        """One Judgement per request, same order (sequential generation)."""
        return [self._judge_one(r) for r in requests]

    def _judge_one(self, request: JudgeRequest) -> Judgement:
        phash = prompt_hash(request, {"max_new_tokens": self.options["max_new_tokens"], **request.params})
        replies, usage, error = [], {"prompt_tokens": 0, "completion_tokens": 0, "generations": 0}, None
        for attempt in range(self.options["parse_retries"] + 1):
            try:
                reply, used = self._ask(request, attempt)
            except (OSError, ValueError) as exc:
                status = Status.BAD_IMAGE if isinstance(exc, OSError) else Status.JUDGE_ERROR
                return Judgement(key=request.key, judge_id=self.id, status=status, replies=tuple(replies),
                                 prompt_hash=phash, usage=usage, error=f"{type(exc).__name__}: {exc}")
            replies.append(reply)
            usage["generations"] += 1
            for name, value in used.items():
                usage[name] += value
            try:
                value = request.parse(reply) if request.parse is not None else reply
            except ValueError as exc:
                error = f"unusable reply: {exc}"
                continue
            return Judgement(key=request.key, judge_id=self.id, status=Status.OK, replies=tuple(replies),
                             parsed=(value,), prompt_hash=phash, usage=usage)
        return Judgement(key=request.key, judge_id=self.id, status=Status.PARSE_ERROR,
                         replies=tuple(replies), prompt_hash=phash, usage=usage, error=error)

    def describe(self) -> dict[str, Any]:
        """Judge id, kind, model path and options for the run manifest."""
        return {"id": self.id, "kind": self.kind, "path": self.path, **self.options}

    def close(self) -> None:
        """Drop the loaded model and processor."""
        self._model = None
        self._processor = None


def make_local_vlm_judge(argument: str, options: Mapping[str, Any]) -> LocalVLMJudge:
    """Registry factory for ``local-vlm:PATH``."""
    return LocalVLMJudge(argument, options)
