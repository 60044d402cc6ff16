"""A local OpenAI-compatible HTTP server for offline tests (stdlib only, 127.0.0.1, random port).

Serves ``POST /v1/chat/completions``, ``/v1/images/generations`` (b64_json PNGs) and
``/v1/images/edits`` (multipart, several ``image[]`` parts), with scripted replies, fixed
latency and fault injection: ``"429"`` (with Retry-After), ``"500"``, ``"slow"`` (replies after
``slow_seconds``, beyond a client's timeout), ``"truncated"`` (cut JSON body), ``"non_json"``
(an HTML body with status 200), ``"unauthorized"`` (401 echoing the Authorization header). Every request is recorded.
``rate_limit_rpm``: a real rate limit (a token bucket refilled at N/60 per second holding at most
``rate_limit_burst`` requests, default one second's worth): a request beyond it is answered 429
with the seconds until the next free slot in Retry-After (recorded with fault ``"rate_limited"``).

Example:
    >>> from openai import OpenAI
    >>> with FakeOpenAIServer(responder=lambda body: '{"correct": 1}') as server:
    ...     client = OpenAI(api_key="test", base_url=server.base_url, max_retries=0)
    ...     reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    >>> reply.choices[0].message.content, server.count("chat")
    ('{"correct": 1}', 1)
"""

from __future__ import annotations

import base64
import io
import json
import random
import threading
import time
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

FAULTS = ("429", "500", "slow", "truncated", "non_json")


def tiny_png(color=(200, 30, 30), size=(8, 8)) -> bytes:
    """A small solid PNG (Pillow)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


class FakeOpenAIServer:
    """Context manager running the server in a background thread.

    responder(body) -> str (chat message content), dict (full chat completion JSON) or
    (HTTP status, error JSON) for an error reply.
    fault_plan(index, path, body) -> fault name or None; default: ``fault_rate`` random faults
    from ``faults`` using ``seed``. ``script``: a list of fault names/None consumed first.
    image_maker(kind, body) -> PNG bytes of an images.generate/images.edit reply (default: an
    8x8 solid PNG coloured by the prompt's length); a prompt containing REFUSE is refused.
    """

    def __init__(
        self,
        responder: Callable[[dict], Any] | None = None,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        seed: int = 0,
        slow_seconds: float = 2.0,
        retry_after: str = "0.05",
        script: list[str | None] | None = None,
        fault_plan: Callable[[int, str, dict], str | None] | None = None,
        usage: tuple[int, int] = (100, 20),
        rate_limit_rpm: float | None = None,
        rate_limit_burst: float | None = None,
        image_maker: Callable[[str, dict], bytes] | None = None,
    ) -> None:
        self.responder = responder or (lambda body: "ok")
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults = faults
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.script = list(script or [])
        self.fault_plan = fault_plan
        self.usage = usage
        self.rate_limit_rpm = rate_limit_rpm
        self.image_maker = image_maker  # (kind, body) -> PNG bytes; default: a tiny solid PNG
        self._bucket_size = rate_limit_burst or max(1.0, (rate_limit_rpm or 0) / 60.0)
        self._bucket = (self._bucket_size, time.monotonic())  # (level, when)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.requests: list[dict] = []  # {"kind", "body", "fault", "authorization"}
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> "FakeOpenAIServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # -- bookkeeping -------------------------------------------------------------------
    def count(self, kind: str | None = None, ok_only: bool = False) -> int:
        """Requests received (kind: "chat", "images.generate", "images.edit")."""
        with self._lock:
            return sum(
                1 for r in self.requests
                if (kind is None or r["kind"] == kind) and (not ok_only or r["fault"] is None)
            )

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    def _rate_limited(self) -> float | None:
        """Seconds until the next request is allowed, or None when this one may pass."""
        if not self.rate_limit_rpm:
            return None
        rate = self.rate_limit_rpm / 60.0
        with self._lock:
            level, when = self._bucket
            now = time.monotonic()
            level = min(self._bucket_size, level + (now - when) * rate)
            if level >= 1.0:
                self._bucket = (level - 1.0, now)
                return None
            self._bucket = (level, now)
            return (1.0 - level) / rate

    def _choose_fault(self, path: str, body: dict) -> str | None:
        with self._lock:
            index = len(self.requests)
            if self.script:
                return self.script.pop(0)
            if self.fault_plan is not None:
                return self.fault_plan(index, path, body)
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.faults)
        return None

    def _record(self, kind: str, body: dict, fault: str | None, auth: str | None) -> None:
        with self._lock:
            self.requests.append({"kind": kind, "body": body, "fault": fault, "authorization": auth})


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # many concurrent clients connect at once (default backlog is 5)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, payload: bytes, content_type="application/json", headers=None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)

    def _json(self, status: int, data: Any, headers=None) -> None:
        self._send(status, json.dumps(data).encode(), headers=headers)

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        owner = self.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        kind = {"/v1/chat/completions": "chat", "/v1/images/generations": "images.generate",
                "/v1/images/edits": "images.edit"}.get(path)
        if kind is None:
            return self._json(404, {"error": {"message": f"no route {path}", "code": None}})
        body = _parse_multipart(self.headers, raw) if kind == "images.edit" else json.loads(raw or b"{}")
        wait = owner._rate_limited()
        fault = "rate_limited" if wait is not None else owner._choose_fault(path, body)
        owner._record(kind, body, fault, self.headers.get("Authorization"))
        if wait is not None:
            return self._json(429, {"error": {"message": "Rate limit reached for requests",
                                              "type": "requests", "code": "rate_limit_exceeded"}},
                              headers={"Retry-After": f"{wait:.3f}",
                                       "x-ratelimit-limit-requests": str(int(owner.rate_limit_rpm))})
        with owner._lock:
            owner.in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
        try:
            self._serve(kind, body, fault)
        finally:
            with owner._lock:
                owner.in_flight -= 1

    def _serve(self, kind: str, body: dict, fault: str | None) -> None:
        owner = self.owner
        if owner.latency:
            time.sleep(owner.latency)
        if fault == "429":
            return self._json(429, {"error": {"message": "Rate limit reached", "type": "requests",
                                              "code": "rate_limit_exceeded"}},
                              headers={"Retry-After": owner.retry_after})
        if fault == "unauthorized":  # echoes the key back, as some servers do
            return self._json(401, {"error": {"message": "Incorrect API key provided: "
                                              + str(self.headers.get("Authorization")),
                                              "code": "invalid_api_key"}})
        if fault == "500":
            return self._json(500, {"error": {"message": "internal error", "code": None}})
        if fault == "slow":
            time.sleep(owner.slow_seconds)
        if fault == "non_json":
            return self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        data = self._reply(kind, body)
        if isinstance(data, tuple):  # (status, error json)
            return self._json(*data)
        payload = json.dumps(data).encode()
        if fault == "truncated":
            payload = payload[: max(1, len(payload) // 2)]
        self._send(200, payload)

    def _reply(self, kind: str, body: dict):
        owner = self.owner
        prompt_tokens, completion_tokens = owner.usage
        if kind == "chat":
            answer = owner.responder(body)
            if isinstance(answer, (dict, tuple)):
                return answer
            return {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
                "model": body.get("model", ""),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": answer}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            }
        prompt = str(body.get("prompt", ""))
        if "REFUSE" in prompt:
            return (400, {"error": {"message": "Your request was rejected by the safety system.",
                                    "type": "image_generation_user_error",
                                    "code": "moderation_blocked"}})
        n = int(body.get("n") or 1)
        colour = (len(prompt) * 7 % 256, 80, 160)
        png = owner.image_maker(kind, body) if owner.image_maker else tiny_png(colour)
        image = base64.b64encode(png).decode()
        return {"created": 0, "data": [{"b64_json": image} for _ in range(n)],
                "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}


def _parse_multipart(headers, raw: bytes) -> dict:
    """Multipart form -> {"field": value, "images": [{"field", "filename", "size"}]}."""
    message = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + headers.get("Content-Type", "").encode() + b"\r\n\r\n" + raw
    )
    out: dict[str, Any] = {"images": []}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        content = part.get_payload(decode=True) or b""
        if filename is not None:
            out["images"].append({"field": name, "filename": filename, "size": len(content)})
        else:
            out[name] = content.decode("utf-8", "replace")
    return out
