"""The ``openai`` client behind the same small interface as :class:`echo4o_eval.api.http.JsonClient`.

The engine uses it where its own client does not go: through a proxy set in the environment
(httpx reads ``HTTPS_PROXY`` and friends) and for multipart uploads (``images.edit``). Its
exceptions are translated into :mod:`echo4o_eval.api.http`'s, so the engine handles one set.

Example (no request is made; the client is built lazily on first use):
    >>> client = OpenAIClient("http://127.0.0.1:9/v1", api_key="k", timeout=5)
    >>> client.base_url
    'http://127.0.0.1:9/v1'
"""

from __future__ import annotations

import contextlib
from typing import Any, Mapping

from echo4o_eval.api.http import (APIConnectionError, APITimeoutError, Reply, error_from,
                                  resolve_base_url)


class OpenAIClient:
    """``post_json`` and ``edit_image`` over ``openai.AsyncOpenAI`` (errors translated)."""

    def __init__(self, base_url: str | None, api_key: str | None, timeout: float,
                 ssl_context: Any = None) -> None:
        self.base_url = resolve_base_url(base_url)
        self._args = {"api_key": api_key or "not-needed", "base_url": self.base_url,
                      "max_retries": 0, "timeout": timeout}
        self._ssl = ssl_context
        self._client = None

    def _get(self):
        if self._client is None:
            from openai import AsyncOpenAI, DefaultAsyncHttpxClient

            http = DefaultAsyncHttpxClient(verify=self._ssl) if self._ssl is not None else None
            self._client = AsyncOpenAI(**self._args, **({"http_client": http} if http else {}))
        return self._client

    async def post_json(self, path: str, body: Mapping[str, Any]) -> Reply:
        """POST a JSON body as it is (no typed-parameter transform); the reply's text."""
        with _translated():
            text = await self._get().post(path, body=dict(body), cast_to=str)
        return Reply(200, {}, text)

    async def edit_image(self, args: Mapping[str, Any]) -> Reply:
        """``images.edit`` (multipart upload of the reference images)."""
        with _translated():
            raw = await self._get().images.with_raw_response.edit(**args)
        return Reply(raw.status_code, {k.lower(): v for k, v in raw.headers.items()}, raw.text)

    async def close(self) -> None:
        """Close the underlying HTTP client, if one was made."""
        if self._client is not None:
            await self._client.close()
            self._client = None


@contextlib.contextmanager
def _translated():
    import openai

    try:
        yield
    except openai.APIStatusError as exc:
        headers = {k.lower(): v for k, v in exc.response.headers.items()}
        raise error_from(exc.status_code, exc.response.text, headers) from None
    except openai.APITimeoutError as exc:  # past connecting, whether it got out is not known: assume so
        raise APITimeoutError(f"{type(exc).__name__}: {exc}", sent=not _unsent(exc)) from None
    except openai.APIConnectionError as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        raise APIConnectionError(f"{exc}{cause}", sent=not _unsent(exc)) from None


def _unsent(exc: BaseException) -> bool:
    """Whether the openai client failed before the request left (no connection to the server
    or the proxy, or the proxy refused the tunnel): not a request the server saw. Told by the
    name of the httpx exception behind it (httpx, or the fork the installed openai uses)."""
    cause = exc.__cause__
    return cause is not None and type(cause).__name__ in ("ConnectError", "ConnectTimeout", "ProxyError")
