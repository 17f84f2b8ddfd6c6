"""A unique fake API key sent through 401s, 400s, retries and debug logging must not land
in the database (or its WAL), the logs, or any export."""

from __future__ import annotations

import logging
import sys
import tomllib
import uuid

import pytest
import tomli_w
from typer.testing import CliRunner

from labelloop.project import DB_NAME
from labelloop.testing import stub_llm
from labelloop.testing.stub_llm import StubServer
from labelloop.ui import cli
from tests.support.llm import MODEL, leaky, litellm_debug, make_project


def run_cli(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["labelloop", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    return exit_.value.code


@pytest.mark.parametrize("client", ["openai", "litellm"])
def test_a_key_never_lands_in_the_database_logs_or_exports(
    tmp_path, monkeypatch, caplog, capfd, client
):
    key = f"sk-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("LITELLM_LOG", "DEBUG")
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    real_app = stub_llm.create_app
    monkeypatch.setattr(stub_llm, "create_app", lambda state: leaky(real_app(state), seen))
    items = [{"id": f"i{n}", "text": f"message {n}"} for n in range(4)]
    items.append({"id": "bad", "text": "a request the server refuses"})
    project = make_project(tmp_path, items)
    config = project.root / "labelloop.toml"
    settings = tomllib.loads(config.read_text())
    settings["llm"]["client"] = client
    config.write_text(tomli_w.dumps(settings))
    p = str(project.root)
    args = ["label", "--model", MODEL, "-p", p]
    with litellm_debug(), StubServer(retry_after=0.01) as stub:
        stub.script = {"*": {"fail": [401]}}
        assert run_cli(monkeypatch, *args, "--api-base", stub.base_url) == 1
        stub.reset()
        stub.script = {"*": {"fail": [429]}, "bad": {"fail": [400]}}
        assert run_cli(monkeypatch, *args, "--api-base", stub.base_url) == 0
        assert stub.calls.counts() == {**{i["id"]: 2 for i in items[:-1]}, "bad": 1}
    exports = {}
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"export.{fmt}"
        result = CliRunner().invoke(cli.app, ["export", str(out), "--format", fmt, "-p", p])
        assert result.exit_code == 0, result.output
        exports[out.name] = out.read_bytes()
    status = CliRunner().invoke(cli.app, ["status", "--json", "-p", p])
    stdout, stderr = capfd.readouterr()
    logs = {"caplog": caplog.text, "stdout": stdout, "stderr": stderr, "status": status.output}

    # the key really went out, debug logs were captured, and the 400 reached the store
    assert seen and set(seen) == {f"Bearer {key}"}
    if client == "litellm":
        assert "litellm.acompletion(" in stdout + stderr
    else:  # the SDK's own debug log of each request
        assert "Request options:" in caplog.text and "Sending HTTP Request" in caplog.text
    failed = project.store.latest_suggestions(model=MODEL)["bad"]
    assert failed.status == "failed" and "you sent" in failed.error
    db = project.root / DB_NAME
    wal = db.with_name(DB_NAME + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    files = {p.name: p.read_bytes() for p in (db, wal, db.with_name(DB_NAME + "-shm"))}
    for where, data in {**files, **exports, **{k: v.encode() for k, v in logs.items()}}.items():
        # the whole key, and its random part alone (a partly masked key is a leak too)
        for secret in (key, key.removeprefix("sk-test-")):
            assert secret.encode() not in data, f"the API key leaked into {where}"


@pytest.mark.parametrize("client", ["openai", "litellm"])
def test_a_debug_traceback_of_a_rejected_key_shows_no_copy_of_it(
    tmp_path, monkeypatch, capfd, client
):
    """LABELLOOP_DEBUG=1 prints the traceback of the 401, whose message (and its causes')
    carries the key the server echoed: the key is removed, the rest kept."""
    key = f"distinct-{uuid.uuid4().hex}"  # no known key shape: only its variable says so
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("LABELLOOP_DEBUG", "1")
    seen: list[str] = []
    real_app = stub_llm.create_app
    monkeypatch.setattr(stub_llm, "create_app", lambda state: leaky(real_app(state), seen))
    project = make_project(tmp_path, [{"id": "i0", "text": "message 0"}])
    config = project.root / "labelloop.toml"
    settings = tomllib.loads(config.read_text())
    settings["llm"]["client"] = client
    config.write_text(tomli_w.dumps(settings))
    args = ["label", "--model", MODEL, "-p", str(project.root)]
    with StubServer(retry_after=0.01) as stub:
        stub.script = {"*": {"fail": [401]}}
        assert run_cli(monkeypatch, *args, "--api-base", stub.base_url) == 1
    _, stderr = capfd.readouterr()
    assert seen == [f"Bearer {key}"]  # the key went out, and came back in the error
    assert "Traceback" in stderr and "AuthenticationError" in stderr and "RunAborted" in stderr
    assert "you sent: Bearer [REDACTED]" in stderr
    assert key not in stderr and key.removeprefix("distinct-") not in stderr
