"""VLM judge over any OpenAI-compatible chat-completions server (OpenAI, vLLM, SGLang, LM Studio,
Azure via base_url), built on the shared API engine.

Spec ``openai:MODEL``; options (strings from the CLI are coerced): base_url, api_key_env
(name of the env var holding the key; default OPENAI_API_KEY), temperature, max_tokens, seed,
image_detail (low/high/auto; omitted by default like the official scripts), image_format
(jpeg/png), image_max_side, concurrency, rpm, tpm, max_retries, parse_retries, votes,
vote_rule (majority/mean/median), cache_dir ("none" disables the cache), timeout, prices
(mapping or JSON/YAML file), structured_output (send JSON-schema response_format; default on),
backoff_base / backoff_cap (seconds of the exponential back-off between retries),
max_tokens_field ("max_tokens", or "max_completion_tokens" for models that require it).

Per-request ``JudgeRequest.params`` give the benchmark's settings (e.g. official max_tokens);
options the user set explicitly win over them. ``Judgement.parsed[0]`` is the value to score
(the vote-combined value when votes > 1, followed by each vote's value); ``replies`` keeps
every raw reply text, re-asks included.

Example:
    >>> judge = make_openai_judge("gpt-4.1", {"votes": "3", "cache_dir": "none"})
    >>> judge.id, judge.kind, judge.describe()["votes"]
    ('openai:gpt-4.1', 'vlm', 3)
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

from echo4o_eval.api.engine import ApiCall, ApiEngine, EngineConfig, default_cache_path
from echo4o_eval.judges.vlm_messages import (
    build_messages, combine_votes, data_url, encode_image, prompt_hash,
)
from echo4o_eval.types import JudgeRequest, Judgement, Status

_OPTION_TYPES: dict[str, Any] = {
    "base_url": str, "api_key_env": str, "temperature": float, "max_tokens": int, "seed": int,
    "image_detail": str, "image_format": str, "image_max_side": int, "concurrency": int,
    "rpm": float, "tpm": float, "max_retries": int, "parse_retries": int, "votes": int,
    "vote_rule": str, "cache_dir": str, "timeout": float, "prices": None,
    "structured_output": bool, "backoff_base": float, "backoff_cap": float,
    "max_tokens_field": str,
}
_DEFAULTS = {"temperature": 0.0, "max_tokens": 1024, "image_format": "jpeg", "concurrency": 16,
             "max_retries": 6, "parse_retries": 2, "votes": 1, "vote_rule": "majority",
             "timeout": 120.0, "api_key_env": "OPENAI_API_KEY", "structured_output": True,
             "backoff_base": 1.0, "backoff_cap": 60.0, "max_tokens_field": "max_tokens"}


def _coerce(name: str, value: Any) -> Any:
    kind = _OPTION_TYPES[name]
    if value is None or kind is None or isinstance(value, kind):
        return value
    if kind is bool and isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"openai judge option {name}={value!r} is not a valid {kind.__name__}") from exc


def parse_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Validated options; unknown names are an error listing the known ones."""
    unknown = sorted(set(options) - set(_OPTION_TYPES))
    if unknown:
        raise ValueError(f"unknown openai judge option(s) {unknown}; known: {sorted(_OPTION_TYPES)}")
    return {k: _coerce(k, v) for k, v in options.items() if v is not None}


def reply_text(reply: Mapping[str, Any]) -> str:
    """Message content of a chat completion JSON; ValueError when there is none."""
    try:
        content = reply["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"reply has no message: {str(reply)[:100]}") from exc
    if not isinstance(content, str) or not content.strip():
        raise ValueError("empty reply")
    return content


class OpenAIJudge:
    """Judge protocol implementation (kind "vlm")."""

    kind = "vlm"

    def __init__(self, model: str, options: Mapping[str, Any] | None = None) -> None:
        if not model:
            raise ValueError("the openai judge needs a model name: --judge openai:MODEL")
        self.model = model
        self.user_options = parse_options(options or {})
        self.options = {**_DEFAULTS, **self.user_options}
        if self.options["vote_rule"] not in ("majority", "mean", "median"):
            raise ValueError(f"vote_rule must be majority, mean or median, not {self.options['vote_rule']!r}")
        self.id = f"openai:{model}"
        cache_dir = self.options.get("cache_dir")
        cache_path = None if str(cache_dir).lower() == "none" else default_cache_path(cache_dir)
        self.engine = ApiEngine(EngineConfig(
            model=model, base_url=self.options.get("base_url"),
            api_key_env=self.options["api_key_env"], concurrency=self.options["concurrency"],
            requests_per_minute=self.options.get("rpm"), tokens_per_minute=self.options.get("tpm"),
            max_retries=self.options["max_retries"], parse_retries=self.options["parse_retries"],
            timeout=self.options["timeout"], cache_path=cache_path, prices=self.options.get("prices"),
            backoff_base=self.options["backoff_base"], backoff_cap=self.options["backoff_cap"],
        ))
        self._encode = functools.lru_cache(maxsize=256)(self._encode_uncached)

    def _encode_uncached(self, path: str, crop) -> str:
        mime, data = encode_image(path, crop, self.options["image_format"],
                                  self.options.get("image_max_side"))
        return data_url(mime, data)

    def _params(self, request: JudgeRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"temperature": self.options["temperature"],
                                  "max_tokens": self.options["max_tokens"]}
        params.update(request.params)  # benchmark settings (e.g. the official max_tokens)
        for name in ("temperature", "max_tokens", "seed"):
            if name in self.user_options:  # what the user set explicitly wins
                params[name] = self.user_options[name]
        params = {k: v for k, v in params.items() if v is not None}
        field = self.options["max_tokens_field"]  # newer OpenAI models want max_completion_tokens
        if field != "max_tokens" and "max_tokens" in params:
            params[field] = params.pop("max_tokens")
        return params

    def _call(self, request: JudgeRequest, vote: int) -> ApiCall:
        urls = [self._encode(path, tuple(request.crop) if request.crop and i == len(request.images) - 1
                             else None) for i, path in enumerate(request.images)]
        payload: dict[str, Any] = {
            "messages": build_messages(request, urls, self.options.get("image_detail")),
            **self._params(request),
        }
        if request.response_schema is not None and self.options["structured_output"]:
            payload["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "judgement", "schema": dict(request.response_schema), "strict": True}}
        parse = request.parse

        def validate(reply):
            """The reply's text, parsed by the request's parser when it has one."""
            text = reply_text(reply)
            return parse(text) if parse is not None else text

        tokens = len(request.text) // 4 + 800 * len(request.images) + payload.get("max_tokens", 0)
        return ApiCall(kind="chat", payload=payload, estimated_tokens=tokens,
                       validate=validate, slot=f"v{vote}")

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgement]:
        """One Judgement per request, same order; failures are statuses."""
        votes = max(1, self.options["votes"])
        calls: list[ApiCall | None] = []
        errors: dict[int, str] = {}
        for index, request in enumerate(requests):
            try:
                calls.extend(self._call(request, v) for v in range(votes))
            except (OSError, ValueError) as exc:  # unreadable image
                errors[index] = f"cannot read image for {request.key}: {exc}"
                calls.extend([None] * votes)
        results = iter(self.engine.run_all([c for c in calls if c is not None]))
        grouped = [[None if c is None else next(results) for c in calls[i * votes:(i + 1) * votes]]
                   for i in range(len(requests))]
        return [self._judgement(r, group, errors.get(i)) for i, (r, group) in
                enumerate(zip(requests, grouped))]

    def _judgement(self, request: JudgeRequest, results, error: str | None) -> Judgement:
        phash = prompt_hash(request, self._params(request))
        if error is not None:
            return Judgement(key=request.key, judge_id=self.id, status=Status.BAD_IMAGE,
                             prompt_hash=phash, error=error)
        replies, usage, cost, failures = [], {"api_calls": 0}, 0.0, []
        for result in results:
            for reply in result.replies:
                try:
                    replies.append(reply_text(reply))
                except ValueError:
                    replies.append("")
            usage["api_calls"] += result.calls
            for name, value in result.usage.items():
                usage[name] = usage.get(name, 0) + value
            cost = None if cost is None or result.cost_usd is None else cost + result.cost_usd
            if result.status != "ok":
                failures.append(result)
        common = dict(key=request.key, judge_id=self.id, replies=tuple(replies), prompt_hash=phash,
                      usage=usage, cost_usd=cost, cached=all(r.cached for r in results))
        if failures:  # any vote failing fails the judgement: nothing is guessed from a subset
            first = failures[0]
            status = Status.PARSE_ERROR if first.status == "parse_error" else Status.JUDGE_ERROR
            return Judgement(status=status, error=first.error, **common)
        values = [r.value for r in results]
        parsed = tuple(values) if len(values) == 1 else (
            combine_votes(values, self.options["vote_rule"]), *values)
        return Judgement(status=Status.OK, parsed=parsed, **common)

    def describe(self) -> dict[str, Any]:
        """Settings for the manifest (the key's variable name, never the key)."""
        out = {"id": self.id, "kind": self.kind, "model": self.model,
               **{k: v for k, v in self.options.items() if k != "prices"}}
        out["engine"] = self.engine.describe()
        out["usage"] = dict(self.engine.usage)
        out["totals"] = dict(self.engine.totals)
        return out

    def close(self) -> None:
        """Close the API engine (its reply cache)."""
        self.engine.close()


def make_openai_judge(argument: str, options: Mapping[str, Any]) -> OpenAIJudge:
    """Registry factory for ``openai:MODEL``."""
    return OpenAIJudge(argument, options)
