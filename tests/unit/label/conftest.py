"""Fixtures shared by the label tests that run against the local OpenAI-compatible stub LLM.

``no_key`` is not autouse: a module that wants it says
``pytestmark = pytest.mark.usefixtures("no_key")``. A module that needs another server
(other options) defines its own ``server``; ``stub`` then resets that one.
"""

from __future__ import annotations

import pytest

from labelloop.testing.stub_llm import StubServer


@pytest.fixture
def no_key(monkeypatch):
    """No provider key: the stub needs none (the client sends a placeholder)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture(scope="module")
def server():
    """One stub server per test module, with short retry waits."""
    with StubServer(retry_after=0.01) as stub:
        yield stub


@pytest.fixture
def stub(server):
    """The module's server with an empty script, no call log and no latency, before and after."""
    server.reset()
    server.state.latency = 0.0
    yield server
    server.reset()
