"""A local OpenAI-compatible judge server for the demo: real HTTP on 127.0.0.1, scripted answers.

The demo's judged run uses the real ``openai:`` judge (the ``openai`` client, the API engine,
its concurrency, retries and cache) against this server instead of a paid API. The server
answers ``POST /v1/chat/completions`` with a reply that fits the JSON schema the request sends;
every verdict is taken from a SHA-256 of the request's text and a coarse signature of its image
(:func:`image_signature`), so the same image always gets the same verdict and another image
usually gets another. The verdicts carry no information
about the image's content: scores from this judge are meaningless, by design.

Example:
    >>> import json, urllib.request
    >>> with LocalJudgeServer() as server:
    ...     body = {"model": "demo", "messages": [{"role": "user", "content": "1. a cat\\n2. a dog"}],
    ...             "response_format": {"type": "json_schema", "json_schema": {"schema":
    ...                 {"type": "object", "properties": {"checks": {"type": "array"}}}}}}
    ...     request = urllib.request.Request(server.base_url + "/chat/completions",
    ...                                      data=json.dumps(body).encode(), method="POST")
    ...     reply = json.load(urllib.request.urlopen(request))
    >>> len(json.loads(reply["choices"][0]["message"]["content"])["checks"])
    2
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping

MODEL_NAME = "echo4o-demo-judge"


def _digest(body: Mapping[str, Any]) -> bytes:
    """SHA-256 over every text and image part of the request's messages."""
    digest = hashlib.sha256()
    for message in body.get("messages", []):
        content = message.get("content")
        parts = [content] if isinstance(content, str) else content or []
        for part in parts:
            if isinstance(part, str):
                digest.update(part.encode())
            elif part.get("type") == "text":
                digest.update(str(part.get("text", "")).encode())
            elif part.get("type") == "image_url":
                digest.update(image_signature(str((part.get("image_url") or {}).get("url", ""))))
    return digest.digest()


def image_signature(data_url: str) -> bytes:
    """A coarse signature of a data-URL image: its 4x4 grey thumbnail in 16 levels.

    Another image (seed, model, prompt) changes it; a one-bit difference in a few pixels (another
    CPU's float rounding) almost never does, so the demo's verdicts are stable across machines.
    Not a decodable image: the URL's text itself.
    """
    import base64
    import io

    from PIL import Image

    try:
        payload = base64.b64decode(data_url.partition(",")[2], validate=False)
        with Image.open(io.BytesIO(payload)) as image:
            thumb = image.convert("L").resize((4, 4), Image.Resampling.BOX)
            return bytes(value // 16 for value in thumb.tobytes())
    except Exception:  # noqa: BLE001 (any undecodable payload: hash its text instead)
        return data_url.encode()


def _user_text(body: Mapping[str, Any]) -> str:
    texts = []
    for message in body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        parts = [content] if isinstance(content, str) else content or []
        texts += [p if isinstance(p, str) else str(p.get("text", "")) for p in parts
                  if isinstance(p, str) or p.get("type") == "text"]
    return "\n".join(texts)


def _instance(schema: Mapping[str, Any], digest: bytes, position: list[int]) -> Any:
    """A value that satisfies a simple JSON schema, its choices drawn from ``digest``."""
    position[0] += 1
    byte = digest[position[0] % len(digest)]
    if "enum" in schema:
        return schema["enum"][byte % len(schema["enum"])]
    kind = schema.get("type")
    if kind == "object":
        return {k: _instance(v, digest, position) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return []
    if kind == "boolean":
        return byte % 2 == 0
    if kind in ("integer", "number"):
        low, high = int(schema.get("minimum", 0)), int(schema.get("maximum", 10))
        return low + byte % (high - low + 1)
    return "scripted demo reply"


def scripted_reply(body: Mapping[str, Any]) -> str:
    """The reply text for one chat-completions request body.

    GenEval++ checklists (schema with ``checks``) get one verdict per numbered requirement of
    the user text, satisfied three times in four; other schemas get a schema-shaped value.
    """
    digest = _digest(body)
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
    if "checks" in schema.get("properties", {}):
        numbers = re.findall(r"^(\d+)\. ", _user_text(body), flags=re.M)
        checks = [{"requirement": int(n), "observation": "scripted demo verdict",
                   "satisfied": digest[i % len(digest)] % 4 != 0} for i, n in enumerate(numbers)]
        return json.dumps({"checks": checks})
    return json.dumps(_instance(schema, digest, [0]))


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        except ValueError:
            self._send(400, {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        text = scripted_reply(body)
        self.server.calls += 1
        self._send(200, {
            "id": f"demo-{self.server.calls}", "object": "chat.completion", "created": 0,
            "model": body.get("model", MODEL_NAME),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": len(text) // 4,
                      "total_tokens": 100 + len(text) // 4},
        })

    def _send(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (silence access logs)
        return


class LocalJudgeServer:
    """The scripted OpenAI-compatible server on ``127.0.0.1`` (a free port), in a thread.

    Use as a context manager; ``base_url`` is what ``--judge-base-url`` takes and ``calls``
    counts the completions served.
    """

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.calls = 0
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-judge", daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def calls(self) -> int:
        """Chat completions answered so far."""
        return self._server.calls

    def __enter__(self) -> "LocalJudgeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
