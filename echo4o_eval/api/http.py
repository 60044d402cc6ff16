"""A small HTTP/1.1 client for JSON POSTs to an OpenAI-compatible server, on asyncio streams.

Why not the ``openai`` client: for a judge request, its typed layers, httpx's connection-pool
scan and anyio's socket attributes cost several times more CPU than the request itself, and
importing it takes about half a second. This client does only what the engine needs: POST a
JSON body with a bearer key, read the status, headers and body (``Content-Length``, chunked, or
until close; gzip/deflate decoded), keep connections alive (a pool without scans: idle
connections are reused last-in first-out and dropped after ``keepalive_s`` idle, 4 s by default,
under the 5 s after which common servers close an idle one, or when the server has closed
them), one timeout per request.

It is used for direct connections only: when a proxy applies to the server (``HTTPS_PROXY``,
``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``, as urllib reads them), the engine uses the
``openai`` client instead (:func:`proxy_for`), and multipart uploads (``images.edit``) always go
through it.

Errors are this module's exceptions, raised the same way by both clients: an HTTP status
>= 400 is :class:`HttpStatusError` (status, message, parsed body, headers), a failure to
connect or a broken connection is :class:`APIConnectionError`, a request over its time is
:class:`APITimeoutError`.

Example (against a one-shot local server):
    >>> import asyncio, http.server, threading
    >>> class Handler(http.server.BaseHTTPRequestHandler):
    ...     protocol_version = "HTTP/1.1"
    ...     def log_message(self, *args): pass
    ...     def do_POST(self):
    ...         self.rfile.read(int(self.headers["Content-Length"]))
    ...         body = b'{"choices": []}'
    ...         self.send_response(200); self.send_header("Content-Length", str(len(body)))
    ...         self.end_headers(); self.wfile.write(body)
    >>> server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    >>> threading.Thread(target=server.serve_forever, daemon=True).start()
    >>> async def main():
    ...     client = JsonClient(f"http://127.0.0.1:{server.server_port}/v1", api_key="k")
    ...     try:
    ...         return await client.post_json("/chat/completions", {"model": "m"})
    ...     finally:
    ...         await client.close()
    >>> asyncio.run(main()).text
    '{"choices": []}'
    >>> server.shutdown()
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://api.openai.com/v1"
USER_AGENT = "echo4o-eval"
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 256 * 1024 * 1024  # a reply larger than this is refused, not buffered
_TIMEOUT = getattr(asyncio, "timeout", None)  # asyncio.timeout is new in Python 3.11


class HttpStatusError(Exception):
    """The server answered with an HTTP status >= 400."""

    def __init__(self, status_code: int, message: str, body: Any = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code, self.message, self.body = status_code, message, body
        self.headers: Mapping[str, str] = headers or {}


class APIConnectionError(Exception):
    """No usable reply: refused, reset, closed mid-reply, or not HTTP. ``sent`` says whether
    the request had reached the server (it may then have been processed and billed)."""

    def __init__(self, message: str, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class APITimeoutError(APIConnectionError):
    """The request took longer than its timeout."""


@dataclass
class Reply:
    """A successful (2xx) reply: status, lower-cased headers and the decoded body text."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""


def resolve_base_url(base_url: str | None) -> str:
    """The server's base URL: the given one, else ``OPENAI_BASE_URL``, else the OpenAI API
    (what the ``openai`` client would use).

    >>> resolve_base_url("http://localhost:8000/v1/")
    'http://localhost:8000/v1'
    """
    return (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def proxy_for(base_url: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy the environment sets for this server, or None to connect directly:
    ``<scheme>_proxy`` or ``all_proxy`` (either case), unless ``no_proxy`` names the host, a
    parent domain (``.corp`` or ``corp``), ``host:port``, or is ``*``.

    >>> env = {"HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost,.internal"}
    >>> proxy_for("https://api.openai.com/v1", env), proxy_for("https://judge.internal/v1", env)
    ('http://proxy:3128', None)
    """
    env = os.environ if environ is None else environ

    def get(name: str) -> str:
        return (env.get(name) or env.get(name.upper()) or "").strip()

    parts = urlsplit(resolve_base_url(base_url))
    proxy = get(f"{parts.scheme}_proxy") or get("all_proxy")
    if not proxy:
        return None
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for entry in (e.strip().lower() for e in get("no_proxy").split(",")):
        if not entry:
            continue
        if entry == "*":
            return None
        name, _, entry_port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.lstrip(".")
        if host == name or host.endswith("." + name):
            return None
    return proxy


def error_from(status: int, text: str, headers: Mapping[str, str]) -> HttpStatusError:
    """An :class:`HttpStatusError` from an error reply; ``body`` is the ``error`` object of an
    OpenAI error body when there is one, else the parsed JSON or the text.

    >>> e = error_from(429, '{"error": {"message": "slow down", "code": "rate_limit_exceeded"}}', {})
    >>> e.message, e.body["code"]
    ('slow down', 'rate_limit_exceeded')
    """
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    inner = body.get("error") if isinstance(body, dict) else None
    if isinstance(inner, dict):
        body = inner
        message = str(inner.get("message") or text.strip()[:500])
    elif isinstance(inner, str):
        message = inner
    else:
        message = text.strip()[:500] or f"HTTP {status}"
    return HttpStatusError(status, message, body, headers)


class _Connection:
    __slots__ = ("reader", "writer", "idle_since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.idle_since = reader, writer, 0.0

    def usable(self, now: float, keepalive_s: float) -> bool:
        return (not self.reader.at_eof() and not self.writer.is_closing()
                and now - self.idle_since < keepalive_s)

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 (already broken)
            pass


class JsonClient:
    """Keep-alive JSON POSTs to one server (see the module docstring). Use from one event loop."""

    def __init__(self, base_url: str | None, api_key: str | None = None, timeout: float = 120.0,
                 ssl_context: Any = None, keepalive_s: float = 4.0,
                 extra_headers: Mapping[str, str] | None = None) -> None:
        url = resolve_base_url(base_url)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
        self.base_url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path.rstrip("/")
        self.query = parts.query
        self.timeout, self.keepalive_s = float(timeout), float(keepalive_s)
        self._ssl = None
        if parts.scheme == "https":
            if ssl_context is None:
                import ssl

                ssl_context = ssl.create_default_context()
            self._ssl = ssl_context
        default_port = 443 if parts.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal in brackets
        host_header = host if self.port == default_port else f"{host}:{self.port}"
        headers = {"Host": host_header, "User-Agent": USER_AGENT, "Accept": "application/json",
                   "Accept-Encoding": "gzip, deflate", "Content-Type": "application/json",
                   "Connection": "keep-alive"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        headers.update(extra_headers or {})
        self._head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._idle: list[_Connection] = []
        self.opened = 0  # connections made (for tests and figures)

    async def post_json(self, path: str, body: Any) -> Reply:
        """POST ``body`` as JSON to ``base_url + path``; a 2xx :class:`Reply`, else raises
        :class:`HttpStatusError`, :class:`APITimeoutError` or :class:`APIConnectionError`."""
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        target = self.path + path + (f"?{self.query}" if self.query else "")
        request = (f"POST {target} HTTP/1.1\r\n{self._head}Content-Length: {len(data)}\r\n\r\n"
                   .encode("latin-1") + data)
        sent: list[bool] = []  # non-empty once the request is written to a connection
        try:
            if _TIMEOUT is not None:  # Python 3.11+: no extra task per request
                async with _TIMEOUT(self.timeout):
                    status, headers, text = await self._exchange(request, sent)
            else:  # Python 3.10
                status, headers, text = await asyncio.wait_for(self._exchange(request, sent), self.timeout)
        except asyncio.TimeoutError:  # TimeoutError itself on 3.11+
            raise APITimeoutError(f"no reply from {self.base_url} within {self.timeout:g} s",
                                  sent=bool(sent)) from None
        if status >= 400:
            raise error_from(status, text, headers)
        if status < 200 or status >= 300:
            raise HttpStatusError(status, f"unexpected HTTP status {status}", text, headers)
        return Reply(status, headers, text)

    async def _exchange(self, request: bytes, sent: list[bool]) -> tuple[int, dict[str, str], str]:
        conn = await self._connection()
        done = False
        try:
            try:
                conn.writer.write(request)
                sent.append(True)
                try:
                    await conn.writer.drain()  # a large image body on a slow link: back-pressure
                except ConnectionError:
                    pass  # the server may have answered (413…) and closed: read its reply
                status, headers, raw, reusable = await self._read_reply(conn.reader)
            except (OSError, EOFError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                raise APIConnectionError(f"connection to {self.base_url} failed: "
                                         f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
            done = reusable
        finally:
            if done:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                conn.close()
        return status, headers, _decode(raw, headers, self.base_url)

    async def _connection(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.usable(now, self.keepalive_s):
                return conn
            conn.close()
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self._ssl, limit=MAX_HEADER_BYTES,
                server_hostname=self.host if self._ssl is not None else None)
        except OSError as exc:
            raise APIConnectionError(f"cannot connect to {self.base_url}: {exc}", sent=False) from None
        self.opened += 1
        return _Connection(reader, writer)

    async def _read_reply(self, reader: asyncio.StreamReader):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            code = rest[:3]
            if not version.startswith("HTTP/1.") or not code.isdigit():
                raise APIConnectionError(f"not an HTTP reply from {self.base_url}: {lines[0][:80]!r}")
            status = int(code)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    name = name.strip().lower()
                    value = value.strip()
                    headers[name] = f"{headers[name]}, {value}" if name in headers else value
            if not 100 <= status < 200:  # skip interim replies (100 Continue)
                break
        reusable = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raw = await _read_chunked(reader)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise APIConnectionError(f"bad Content-Length from {self.base_url}: "
                                         f"{headers['content-length']!r}") from None
            if length > MAX_BODY_BYTES:
                raise APIConnectionError(f"reply of {length} bytes from {self.base_url} is too large")
            raw = await reader.readexactly(length)
        elif status in (204, 304):
            raw = b""
        else:  # the body runs until the server closes the connection
            parts, total = [], 0
            while chunk := await reader.read(1 << 20):
                total += len(chunk)
                if total > MAX_BODY_BYTES:
                    raise APIConnectionError(f"reply from {self.base_url} is larger than "
                                             f"{MAX_BODY_BYTES} bytes")
                parts.append(chunk)
            raw, reusable = b"".join(parts), False
        return status, headers, raw, reusable

    async def close(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts, total = [], 0
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        total += size
        if total > MAX_BODY_BYTES:
            raise APIConnectionError("chunked reply is too large")
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _decode(raw: bytes, headers: Mapping[str, str], where: str) -> str:
    coding = headers.get("content-encoding", "").strip().lower()
    try:
        if coding == "gzip":
            raw = zlib.decompress(raw, 47)
        elif coding == "deflate":
            try:
                raw = zlib.decompress(raw)
            except zlib.error:
                raw = zlib.decompress(raw, -15)  # raw deflate, as some servers send it
        elif coding not in ("", "identity"):
            raise APIConnectionError(f"reply from {where} uses unsupported Content-Encoding {coding!r}")
    except zlib.error as exc:
        raise APIConnectionError(f"reply from {where} is not valid {coding}: {exc}") from None
    return raw.decode("utf-8", errors="replace")
