"""pytest plugin: the ``fake_openai`` fixture, a fresh local OpenAI-compatible server per test.

Use it from any test::

    def test_something(fake_openai):
        server = fake_openai(responder=lambda body: '{"correct": 1}', latency=0.0)
        ... point a client or judge at server.base_url ...

The factory accepts the keyword arguments of ``FakeOpenAIServer`` (tests/fake_openai_server.py);
every server it started is stopped at the end of the test.
"""

from __future__ import annotations

import pytest

from fake_openai_server import FakeOpenAIServer


@pytest.fixture
def fake_openai():
    servers: list[FakeOpenAIServer] = []

    def start(**kwargs) -> FakeOpenAIServer:
        server = FakeOpenAIServer(**kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
