"""VLM judge over any OpenAI-compatible chat-completions server (OpenAI, vLLM, SGLang, LM Studio,
Azure via base_url), built on the shared API engine.

Spec ``openai:MODEL``; options are the fields of :class:`OpenAIJudgeOptions` (CLI text is read
for each field's type; an unknown name or a value of the wrong type is an error): base_url,
api_key_env (name of the env var holding the key; default OPENAI_API_KEY), temperature,
max_tokens, seed,
image_detail (low/high/auto; omitted by default like the official scripts), image_format
(jpeg/png), image_max_side, concurrency (requests in flight at most; lowered while the server
answers 429 and raised again as calls succeed unless adaptive=false), rpm, tpm, max_retries,
parse_retries, votes, vote_rule (majority/mean/median), cache (on by default: replies are kept
in ``<cache_dir>/responses.sqlite``, default ``$ECHO4O_CACHE_DIR/api`` or
``~/.cache/echo4o-eval/api``; ``cache=off`` disables it), cache_dir, timeout, prices (mapping or
JSON/YAML file), structured_output (send JSON-schema response_format; default on),
backoff_base / backoff_cap (seconds of the exponential back-off between retries),
max_tokens_field ("max_tokens", or "max_completion_tokens" for models that require it),
workers (threads preparing images while requests are in flight; default min(4, CPUs)),
stored_reply_chars (replies are stored in the run records up to this many characters, with a
note saying how much was cut; the full text stays in the response cache; default 20000).

Judging streams: :meth:`OpenAIJudge.judge_stream` takes groups of requests (one image's) and
yields each group's judgements as soon as they are complete, while the next images are read
and encoded in a thread pool. The cache key of a request is built from the sha256 of each
source image file and the encoding settings (format, max side, crop, Pillow's version), so a
cached request neither decodes nor encodes its image; the server's address and the retry and
concurrency settings are not part of it. Retry round ``r > 0`` (a failed judgement asked again on resume) uses new cache
slots, so it really asks the server again.

Per-request ``JudgeRequest.params`` give the benchmark's settings (e.g. official max_tokens);
options the user set explicitly win over them. ``Judgement.parsed[0]`` is the value to score
(the vote-combined value when votes > 1, followed by each vote's value); ``replies`` keeps
every raw reply text, re-asks included. ``usage`` holds ``api_calls`` (requests sent now),
``cached_replies`` and the tokens of the replies fetched now; ``cost_usd`` is what they cost
(0 for cached replies). A reply with no content but a ``refusal`` (OpenAI's structured
refusal) makes the judgement ``refused`` with the refusal text as its error; it is not re-asked.

Example:
    >>> judge = make_openai_judge("gpt-4.1", {"votes": "3", "cache": "off"})
    >>> judge.id, judge.kind, judge.describe()["votes"]
    ('openai:gpt-4.1', 'vlm', 3)
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import threading
from dataclasses import dataclass, fields
from typing import Any, Iterable, Iterator, Literal, Mapping, Sequence

from echo4o_eval.adapter_options import adapter_options, given_options
from echo4o_eval.api.engine import ApiCall, ApiEngine, CallResult, EngineConfig, cache_path_from
from echo4o_eval.judges.vlm_messages import (
    build_messages, combine_votes, data_url, encode_image, prompt_hash,
)
from echo4o_eval.records.types import JudgeRequest, Judgement, Status

@dataclass(frozen=True)
class OpenAIJudgeOptions:
    """Settings of the ``openai:MODEL`` judge (``--judge-option KEY=VALUE``; CLI text is read
    for each field's type). An unknown name is an error with a did-you-mean."""

    base_url: str | None = None  # an OpenAI-compatible server; default the OpenAI API
    api_key_env: str = "OPENAI_API_KEY"  # NAME of the env var holding the key (never the key)
    temperature: float = 0.0  # set explicitly, it beats the benchmark's request params
    max_tokens: int = 1024  # set explicitly, it beats the benchmark's request params
    seed: int | None = None  # sent to the server when set
    image_detail: str | None = None  # low / high / auto; omitted by default (official scripts)
    image_format: str = "jpeg"  # jpeg / png encoding of the images sent
    image_max_side: int | None = None  # downscale images whose longer side exceeds this
    concurrency: int = 16  # requests in flight at most
    adaptive: bool = True  # lower concurrency while the server answers 429, raise it again
    rpm: float | None = None  # requests per minute at most
    tpm: float | None = None  # tokens per minute at most
    max_retries: int = 6  # retries of a failed call (429, 5xx, timeouts)
    parse_retries: int = 2  # re-asks after a reply the benchmark's parser cannot read
    votes: int = 1  # replies per request, combined by vote_rule
    vote_rule: Literal["majority", "mean", "median"] = "majority"
    cache: str = "on"  # reply cache; off / false / no / 0 disable it
    cache_dir: str | None = None  # default $ECHO4O_CACHE_DIR/api or ~/.cache/echo4o-eval/api
    timeout: float = 120.0  # seconds per request
    prices: Any = None  # USD per token: a mapping, or a JSON/YAML file
    structured_output: bool = True  # send a JSON-schema response_format when the request has one
    backoff_base: float = 1.0  # seconds: exponential back-off between retries starts here
    backoff_cap: float = 60.0  # and never waits longer than this
    max_tokens_field: str = "max_tokens"  # or "max_completion_tokens" for models that need it
    workers: int = 0  # threads preparing images; 0: min(4, CPUs)
    stored_reply_chars: int = 20000  # replies stored in run records up to this many characters


_DEFAULTS = {f.name: f.default for f in fields(OpenAIJudgeOptions) if f.default is not None}
_STATUS = {"parse_error": Status.PARSE_ERROR, "refused": Status.REFUSED,
           "input_error": Status.BAD_IMAGE}


def parse_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options set explicitly, typed; an unknown name or a value of the wrong type is a
    ConfigError (a ValueError) naming the judge.

    >>> parse_options({"votes": "3", "cache": "off", "seed": None})
    {'votes': 3, 'cache': 'off'}
    >>> parse_options({"temprature": 0})
    Traceback (most recent call last):
    ...
    echo4o_eval.config.ConfigError: openai judge option: unknown openai judge option 'temprature'; did you mean 'temperature'? (known: base_url, api_key_env, ...)
    """
    return given_options(adapter_options(OpenAIJudgeOptions, options, "openai judge option"), options)


def reply_text(reply: Mapping[str, Any]) -> str:
    """Message content of a chat completion JSON; ValueError when there is none."""
    try:
        content = reply["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"reply has no message: {str(reply)[:100]}") from exc
    if not isinstance(content, str) or not content.strip():
        raise ValueError("empty reply")
    return content


def reply_refusal(reply: Mapping[str, Any]) -> str | None:
    """The model's refusal text when a chat completion has no content but a ``refusal``
    (OpenAI's structured refusal); None otherwise.

    >>> reply_refusal({"choices": [{"message": {"content": None, "refusal": "I can't help"}}]})
    "I can't help"
    >>> reply_refusal({"choices": [{"message": {"content": "yes", "refusal": None}}]}) is None
    True
    """
    try:
        message = reply["choices"][0]["message"]
        content, refusal = message.get("content"), message.get("refusal")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    if isinstance(content, str) and content.strip():
        return None  # an answer was given: it is what counts
    return refusal.strip() if isinstance(refusal, str) and refusal.strip() else None


class Refusal(str):
    """Validated value of a reply that was a refusal (never parsed, never re-asked: asking
    again rarely changes a refusal and is paid each time)."""


class OpenAIJudge:
    """Judge protocol implementation (kind "vlm")."""

    kind = "vlm"

    def __init__(self, model: str, options: Mapping[str, Any] | None = None) -> None:
        if not model:
            raise ValueError("the openai judge needs a model name: --judge openai:MODEL")
        self.model = model
        self.user_options = parse_options(options)
        self.options = {**_DEFAULTS, **self.user_options}
        self.id = f"openai:{model}"
        self.engine = ApiEngine(EngineConfig(
            model=model, base_url=self.options.get("base_url"),
            api_key_env=self.options["api_key_env"], concurrency=self.options["concurrency"],
            requests_per_minute=self.options.get("rpm"), tokens_per_minute=self.options.get("tpm"),
            max_retries=self.options["max_retries"], parse_retries=self.options["parse_retries"],
            timeout=self.options["timeout"], cache_path=cache_path_from(self.options),
            prices=self.options.get("prices"), backoff_base=self.options["backoff_base"],
            backoff_cap=self.options["backoff_cap"], adaptive=self.options["adaptive"],
            workers=self.options["workers"],
        ))
        self._encode = functools.lru_cache(maxsize=64)(self._encode_uncached)
        self._digests: dict[tuple, str] = {}

    # -- images: digests for cache keys, encodings only for requests that are sent -------
    def _encode_uncached(self, path: str, crop) -> str:
        try:  # a truncated or corrupt file (the folder model reads headers only): name it
            mime, data = encode_image(path, crop, self.options["image_format"],
                                      self.options.get("image_max_side"))
        except Exception as exc:  # noqa: BLE001 (this request's bad_image, see Session._payload)
            raise OSError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from exc
        return data_url(mime, data)

    def _digest(self, path: str) -> str:
        """sha256 of an image file (remembered per path, size and modification time)."""
        stat = os.stat(path)
        mark = (path, stat.st_size, stat.st_mtime_ns)
        digest = self._digests.get(mark)
        if digest is None:
            with open(path, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            self._digests[mark] = digest
        return digest

    def _image_crops(self, request: JudgeRequest) -> list[tuple[str, Any]]:
        last = len(request.images) - 1  # the crop applies to the generated (last) image
        return [(path, tuple(request.crop) if request.crop and i == last else None)
                for i, path in enumerate(request.images)]

    def _image_ref(self, path: str, crop) -> str:
        import PIL

        return (f"sha256:{self._digest(path)};crop={list(crop) if crop else None};"
                f"format={self.options['image_format']};max_side={self.options.get('image_max_side')};"
                f"pillow={PIL.__version__}")

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

    def _body(self, request: JudgeRequest, urls: Sequence[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": build_messages(request, urls, self.options.get("image_detail")),
            **self._params(request),
        }
        if request.response_schema is not None and self.options["structured_output"]:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "judgement", "schema": dict(request.response_schema), "strict": True}}
        return body

    def _calls(self, request: JudgeRequest, round_: int = 0) -> list[ApiCall]:
        """One ApiCall per vote; the images are hashed here (OSError/ValueError when
        unreadable) and only encoded when a request is sent."""
        crops = self._image_crops(request)
        key = self._body(request, [self._image_ref(path, crop) for path, crop in crops])
        payload = _Once(lambda: self._body(request, [self._encode(path, crop) for path, crop in crops]))
        parse = request.parse

        def validate(reply):
            """The reply's text, parsed by the request's parser when it has one (a
            :class:`Refusal` when the model refused)."""
            refusal = reply_refusal(reply)
            if refusal is not None:
                return Refusal(refusal)
            text = reply_text(reply)
            return parse(text) if parse is not None else text

        tokens = len(request.text) // 4 + 800 * len(request.images) + key.get("max_tokens", 0)
        prefix = f"r{round_}." if round_ else ""
        return [ApiCall(kind="chat", payload=payload, key_payload=key, estimated_tokens=tokens,
                        validate=validate, slot=f"{prefix}v{vote}")
                for vote in range(max(1, self.options["votes"]))]

    # -- judging ---------------------------------------------------------------------------
    async def _judge_one(self, session, request: JudgeRequest, round_: int) -> Judgement:
        loop = asyncio.get_running_loop()
        try:
            calls = await loop.run_in_executor(self.engine.pool(), self._calls, request, round_)
        except (OSError, ValueError) as exc:  # unreadable image
            return self._judgement(request, [], f"cannot read image for {request.key}: {exc}")
        results = await asyncio.gather(*(session.call(call) for call in calls))
        return self._judgement(request, results, None)

    def judge_stream(self, groups: Iterable[tuple[Any, Sequence[JudgeRequest], int]],
                     window: int | None = None) -> Iterator[tuple[Any, list[Judgement]]]:
        """For each ``(token, requests, retry_round)`` yield ``(token, judgements)`` as soon
        as that group's judgements are complete (completion order). At most ``window`` groups
        (default: twice the concurrency plus the workers) are prepared or in flight at once;
        the requests in flight never exceed ``concurrency``."""
        async def work(session, group):
            _, requests, round_ = group
            return list(await asyncio.gather(*(self._judge_one(session, r, round_) for r in requests)))

        if window is None:
            window = 2 * max(1, self.options["concurrency"]) + (self.options["workers"] or 4)
        for group, judgements in self.engine.stream(groups, work, window):
            yield group[0], judgements

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Judgement]:
        """One Judgement per request, same order; failures are statuses."""
        out: list[Judgement | None] = [None] * len(requests)
        for index, [judgement] in self.judge_stream((i, [r], 0) for i, r in enumerate(requests)):
            out[index] = judgement
        return out  # type: ignore[return-value]

    def _stored(self, text: str) -> str:
        cap = self.options["stored_reply_chars"]
        if cap is None or cap < 0 or len(text) <= cap:
            return text
        return (text[:cap] + f"\n[cut: the reply has {len(text)} characters, the first {cap} are "
                "stored here; the full reply is in the response cache]")

    def _judgement(self, request: JudgeRequest, results: Sequence[CallResult],
                   error: str | None) -> Judgement:
        phash = prompt_hash(request, self._params(request))
        if error is not None:
            return Judgement(key=request.key, judge_id=self.id, status=Status.BAD_IMAGE,
                             prompt_hash=phash, error=error)
        replies, failures = [], []
        usage: dict[str, Any] = {"api_calls": 0, "cached_replies": 0}
        cost: float | None = 0.0
        for result in results:
            for reply in result.replies:
                try:
                    replies.append(self._stored(reply_text(reply)))
                except ValueError:
                    replies.append("")
            usage["api_calls"] += result.calls
            usage["cached_replies"] += result.cached_replies
            if result.unanswered:  # sent, no reply: the server may have billed them
                usage["unanswered"] = usage.get("unanswered", 0) + result.unanswered
            for name, value in result.usage.items():
                usage[name] = usage.get(name, 0) + value
            cost = None if cost is None or result.cost_usd is None else cost + result.cost_usd
            if result.status != "ok":
                failures.append((_STATUS.get(result.status, Status.JUDGE_ERROR), result.error))
            elif isinstance(result.value, Refusal):
                failures.append((Status.REFUSED, f"refused by the judge model: {result.value}"))
        common = dict(key=request.key, judge_id=self.id, replies=tuple(replies), prompt_hash=phash,
                      usage=usage, cost_usd=cost, cached=all(r.cached for r in results))
        if failures:  # any vote failing fails the judgement: nothing is guessed from a subset
            status, error = failures[0]
            return Judgement(status=status, error=error, **common)
        values = [r.value for r in results]
        parsed = tuple(values) if len(values) == 1 else (
            combine_votes(values, self.options["vote_rule"]), *values)
        return Judgement(status=Status.OK, parsed=parsed, **common)

    def describe(self) -> dict[str, Any]:
        """Settings for the manifest (the key's variable name, never the key)."""
        out = {"id": self.id, "kind": self.kind, "model": self.model,
               **{k: v for k, v in self.options.items() if k != "prices"}}
        out["engine"] = self.engine.describe()  # settings only: usage and cost go to result.json
        return out

    def close(self) -> None:
        """Close the API engine (its reply cache)."""
        self.engine.close()


def make_openai_judge(argument: str, options: Mapping[str, Any]) -> OpenAIJudge:
    """Registry factory for ``openai:MODEL``."""
    return OpenAIJudge(argument, options)


class _Once:
    """A payload builder shared by the votes of one request: builds once, thread-safe."""

    def __init__(self, build) -> None:
        self._build, self._lock, self._value = build, threading.Lock(), None

    def __call__(self):
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value
