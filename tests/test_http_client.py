"""The engine's own HTTP client (echo4o_eval/api/http.py) against real sockets: keep-alive,
framings (Content-Length, chunked, until close), gzip, errors, timeouts, broken servers,
TLS, and the switch to the openai client behind a proxy."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import ssl
import subprocess
import threading

import pytest

from echo4o_eval.api.engine import ApiCall, ApiEngine, EngineConfig
from echo4o_eval.api.http import (APIConnectionError, APITimeoutError, HttpStatusError, JsonClient,
                                  proxy_for)

OK_BODY = {"choices": [{"message": {"content": "yes"}}]}


class RawServer:
    """A TCP server on 127.0.0.1 answering each request with ``handler(request_bytes)``:
    bytes to send, and whether to close the connection afterwards."""

    def __init__(self, handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler, self.tls = handler, tls
        self.connections = 0
        self.requests: list[bytes] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1"

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.handler(request)
                if asyncio.iscoroutine(answer):
                    answer = await answer
                data, close = answer
                writer.write(data)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def reply(body: bytes | dict, status: str = "200 OK", headers: dict | None = None,
          length: bool = True) -> bytes:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json"]
    if length:
        head.append(f"Content-Length: {len(data)}")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def post(url: str, body=None, **kw):
    async def main():
        client = JsonClient(url, api_key="sk-test", **kw)
        try:
            return await client.post_json("/chat/completions", body or {"model": "m"}), client
        finally:
            await client.close()
    return asyncio.run(main())


def test_keep_alive_reuses_one_connection_and_sends_a_plain_json_post():
    with RawServer(lambda req: (reply(OK_BODY), False)) as server:
        async def main():
            client = JsonClient(server.url, api_key="sk-test")
            texts = [(await client.post_json("/chat/completions", {"model": "m", "n": i})).text
                     for i in range(20)]
            await client.close()
            return texts, client.opened
        texts, opened = asyncio.run(main())
    assert opened == 1 and server.connections == 1
    assert all(json.loads(t) == OK_BODY for t in texts)
    first = server.requests[0]
    assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer sk-test\r\n" in first and b"\r\nHost: 127.0.0.1:" in first
    assert json.loads(first.split(b"\r\n\r\n", 1)[1]) == {"model": "m", "n": 0}


def test_a_connection_the_server_closed_is_not_reused():
    with RawServer(lambda req: (reply(OK_BODY), True)) as server:  # closes after each reply
        async def main():
            client = JsonClient(server.url)
            for _ in range(3):
                await client.post_json("/x", {})
                await asyncio.sleep(0.05)  # the server's close arrives
            await client.close()
            return client.opened
        assert asyncio.run(main()) == 3
    assert all(b"Authorization" not in r for r in server.requests)  # no key: no header


def test_connection_close_header_and_http10_are_not_kept():
    for answer in (reply(OK_BODY, headers={"Connection": "close"}),
                   reply(OK_BODY).replace(b"HTTP/1.1", b"HTTP/1.0", 1)):
        with RawServer(lambda req, a=answer: (a, False)) as server:
            async def main():
                client = JsonClient(server.url)
                for _ in range(2):
                    await client.post_json("/x", {})
                await client.close()
                return client.opened
            assert asyncio.run(main()) == 2


def test_chunked_gzip_and_read_until_close_bodies():
    data = json.dumps(OK_BODY).encode()
    packed = gzip.compress(data)
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
               + b"".join(b"%x;ext=1\r\n%s\r\n" % (len(packed[i:i + 7]), packed[i:i + 7])
                          for i in range(0, len(packed), 7)) + b"0\r\nX-Trailer: t\r\n\r\n")
    with RawServer(lambda req: (chunked, False)) as server:
        assert json.loads(post(server.url)[0].text) == OK_BODY
    until_close = reply(OK_BODY, length=False)
    with RawServer(lambda req: (until_close, True)) as server:
        assert json.loads(post(server.url)[0].text) == OK_BODY


def test_error_status_carries_message_code_and_headers():
    body = {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}
    answer = reply(body, "429 Too Many Requests", {"Retry-After": "2", "x-ratelimit-limit-requests": "60"})
    with RawServer(lambda req: (answer, False)) as server:
        with pytest.raises(HttpStatusError) as info:
            post(server.url)
    error = info.value
    assert error.status_code == 429 and error.message == "Rate limit reached"
    assert error.body["code"] == "rate_limit_exceeded"
    assert error.headers["retry-after"] == "2" and error.headers["x-ratelimit-limit-requests"] == "60"
    with RawServer(lambda req: (reply(b"<html>bad gateway</html>", "502 Bad Gateway"), False)) as server:
        with pytest.raises(HttpStatusError, match="bad gateway") as info:
            post(server.url)
    assert info.value.status_code == 502 and info.value.body == "<html>bad gateway</html>"


@pytest.mark.parametrize("answer, close, match", [
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", False, "not an HTTP reply"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"cho", True, "IncompleteReadError"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", False, "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", False, "ValueError"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n", False, "connection to"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}", False, "unsupported"),
    (b"", True, "IncompleteReadError"),
])
def test_broken_replies_are_connection_errors_naming_the_server(answer, close, match):
    with RawServer(lambda req: (answer, close)) as server:
        with pytest.raises(APIConnectionError, match=match) as info:
            post(server.url)
    assert server.url in str(info.value) or "unsupported" in match


def test_timeout_and_refused_connection():
    async def slow(req):
        await asyncio.sleep(3)
        return reply(OK_BODY), False
    with RawServer(slow) as server:
        with pytest.raises(APITimeoutError, match="within 0.3 s"):
            post(server.url, timeout=0.3)
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(APIConnectionError, match=f"cannot connect to http://127.0.0.1:{port}/v1"):
        post(f"http://127.0.0.1:{port}/v1")


def test_query_of_the_base_url_is_kept_and_a_bad_url_is_refused():
    with RawServer(lambda req: (reply(OK_BODY), False)) as server:
        post(server.url + "?api-version=2025-01-01")
    assert server.requests[0].startswith(b"POST /v1/chat/completions?api-version=2025-01-01 HTTP/1.1")
    with pytest.raises(ValueError, match="http"):
        JsonClient("ftp://example.com/v1")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_with_a_trusted_certificate_and_refusal_of_an_untrusted_one(tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with RawServer(lambda req: (reply(OK_BODY), False), tls=tls) as server:
        with pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            post(server.url)  # the system's CAs do not know it
        trusting = ssl.create_default_context(cafile=str(cert))
        assert json.loads(post(server.url, ssl_context=trusting)[0].text) == OK_BODY
        # through the engine: SSL_CERT_FILE is honoured, as OpenSSL reads it
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        monkeypatch.setenv("KEY_FOR_TLS_TEST", "sk-tls")
        engine = ApiEngine(EngineConfig(model="m", base_url=server.url, api_key_env="KEY_FOR_TLS_TEST",
                                        max_retries=0))
        [result] = engine.run_all([ApiCall(kind="chat", payload={"messages": []})])
        engine.close()
    assert result.status == "ok", result.error


def test_a_proxy_in_the_environment_switches_to_the_openai_client(monkeypatch):
    from echo4o_eval.api.openai_client import OpenAIClient

    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
                 "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    engine = ApiEngine(EngineConfig(model="m", base_url="http://judge.internal:8000/v1", api_key_env="NO_SUCH_KEY"))
    assert isinstance(engine._make_client("chat"), JsonClient)
    assert isinstance(engine._make_client("images.edit"), OpenAIClient)  # multipart uploads
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    assert proxy_for("http://judge.internal:8000/v1") == "http://proxy.corp:3128"
    assert isinstance(engine._make_client("chat"), OpenAIClient)
    monkeypatch.setenv("NO_PROXY", "judge.internal")
    assert proxy_for("http://judge.internal:8000/v1") is None
    for no_proxy, bypassed in (("*", True), (".internal", True), ("internal", True), ("nal", False),
                               ("judge.internal:8000", True), ("judge.internal:9000", False)):
        assert (proxy_for("http://judge.internal:8000/v1", {"http_proxy": "http://p:1", "no_proxy": no_proxy})
                is None) == bypassed, no_proxy
    assert proxy_for("https://x/v1", {"HTTP_PROXY": "http://p:1"}) is None  # another scheme
    assert proxy_for("https://x/v1", {"ALL_PROXY": "socks5://p:1"}) == "socks5://p:1"
    assert isinstance(engine._make_client("chat"), JsonClient)


def test_engine_against_the_fake_server_opens_few_connections(fake_openai, monkeypatch):
    """32 concurrent calls, then 32 more: connections are reused, not opened per request."""
    server = fake_openai()
    engine = ApiEngine(EngineConfig(model="m", base_url=server.base_url, concurrency=8,
                                    api_key_env="NO_SUCH_KEY"))
    calls = [ApiCall(kind="chat", payload={"messages": [{"role": "user", "content": str(i)}]})
             for i in range(64)]
    opened = []
    original = JsonClient.close

    async def spy(self):
        opened.append(self.opened)
        await original(self)
    monkeypatch.setattr(JsonClient, "close", spy)
    results = engine.run_all(calls[:32]) + engine.run_all(calls[32:])
    engine.close()
    assert [r.status for r in results] == ["ok"] * 64
    assert server.count("chat") == 64
    assert all(n <= 8 for n in opened), opened


def test_calls_count_what_reached_the_server_and_unanswered_ones_are_kept(fake_openai):
    """A refused connection is not a call; a request that timed out after it went out is a
    call (the server saw it) without a reply: counted as unanswered, since it may be billed."""
    server = fake_openai(script=["slow"], slow_seconds=2.0)
    engine = ApiEngine(EngineConfig(model="m", base_url=server.base_url, api_key_env="NO_SUCH_KEY",
                                    max_retries=0, timeout=0.5))
    [slow] = engine.run_all([ApiCall(kind="chat", payload={"messages": []})])
    engine.close()
    assert slow.status == "api_error" and "APITimeoutError" in slow.error
    assert (slow.calls, slow.unanswered, server.count()) == (1, 1, 1)
    assert engine.totals["unanswered"] == 1

    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    engine = ApiEngine(EngineConfig(model="m", base_url=f"http://127.0.0.1:{port}/v1",
                                    api_key_env="NO_SUCH_KEY", max_retries=2, backoff_base=0.01))
    [refused] = engine.run_all([ApiCall(kind="chat", payload={"messages": []})])
    engine.close()
    assert refused.status == "api_error" and "gave up after 3 attempts" in refused.error
    assert (refused.calls, refused.unanswered, engine.totals["calls"]) == (0, 0, 0)


def test_an_endless_body_is_refused_not_buffered_forever(monkeypatch):
    from echo4o_eval.api import http

    monkeypatch.setattr(http, "MAX_BODY_BYTES", 4096)
    endless = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 10_000
    with RawServer(lambda req: (endless, True)) as server:
        with pytest.raises(APIConnectionError, match="larger than 4096 bytes"):
            post(server.url)
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
    with RawServer(lambda req: (big, True)) as server:
        with pytest.raises(APIConnectionError, match="too large"):
            post(server.url)


def test_without_asyncio_timeout_python_310_requests_and_timeouts_still_work(monkeypatch):
    """asyncio.timeout is new in Python 3.11 and the package supports 3.10: without it the
    client falls back to asyncio.wait_for (same replies, same APITimeoutError)."""
    from echo4o_eval.api import http

    monkeypatch.setattr(http, "_TIMEOUT", None)
    with RawServer(lambda req: (reply(OK_BODY), False)) as server:
        assert json.loads(post(server.url)[0].text) == OK_BODY

    async def slow(req):
        await asyncio.sleep(3)
        return reply(OK_BODY), False
    with RawServer(slow) as server:
        with pytest.raises(APITimeoutError, match="within 0.3 s") as info:
            post(server.url, timeout=0.3)
    assert info.value.sent


def test_a_refused_connection_through_the_openai_client_is_not_a_call(monkeypatch):
    """Behind a proxy (the openai client) too, a connection that could not be made is neither
    a call nor an unanswered request (it was counted as both, as if the server had seen it)."""
    import socket

    from echo4o_eval.api.openai_client import OpenAIClient

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")  # nobody listens there
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    engine = ApiEngine(EngineConfig(model="m", base_url="http://judge.example:8000/v1",
                                    api_key_env="NO_SUCH_KEY", max_retries=1, backoff_base=0.01))
    assert isinstance(engine._make_client("chat"), OpenAIClient)
    [refused] = engine.run_all([ApiCall(kind="chat", payload={"messages": []})])
    engine.close()
    assert refused.status == "api_error" and "gave up after 2 attempts" in refused.error, refused.error
    assert (refused.calls, refused.unanswered) == (0, 0)
    assert (engine.totals["calls"], engine.totals["unanswered"]) == (0, 0)
