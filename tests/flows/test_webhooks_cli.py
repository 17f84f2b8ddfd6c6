"""`labelloop webhooks add|list|remove|deliveries|deliver`, and the first delivery a command
that made an event tries before it exits."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import pytest
import tomli_w
from typer.testing import CliRunner

from labelloop.core.types import LabelValue, Review
from labelloop.project import load_project
from labelloop.ui.cli import app
from tests.support.console import guideline_text, make_project, seed, texts
from tests.support.webhooks import SECRET, SECRET_ENV, Receiver, calibration_ready

runner = CliRunner()
#: a public address: registering it looks nothing up
PUBLIC = "https://93.184.216.34/hook"


def cli(*args: str, ok: bool = True):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A project that may send to 127.0.0.1 (in labelloop.toml), with items to decide."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    project = make_project(tmp_path, guideline_text(["refund", "card_arrival"]), [])
    seed(project, texts("it", 2, label="refund"))
    project.store.close()
    config = project.root / "labelloop.toml"
    data = tomllib.loads(config.read_text())
    data["webhooks"] |= {"allow_private": ["127.0.0.1/32"], "backoff_seconds": 0.0}
    config.write_text(tomli_w.dumps(data))
    return project.root


def test_add_list_deliver_the_log_and_remove(root):
    p = str(root)
    with Receiver() as receiver:
        added = cli("webhooks", "add", receiver.url + "/in", "--event", "item.decided",
                    "--event", "audit.alarm", "-p", p)  # fmt: skip
        assert "Webhook 1:" in added.output and "item.decided, audit.alarm" in added.output
        listed = cli("webhooks", "list", "-p", p).output
        assert "/in" in listed and SECRET_ENV in listed and "as registered" in listed
        assert SECRET not in listed
        as_json = json.loads(cli("webhooks", "list", "--json", "-p", p).stdout)
        assert as_json[0]["secret_here"] == "same" and as_json[0]["secret_env"] == SECRET_ENV

        project = load_project(root)
        fix = LabelValue(label="card_arrival")
        project.store.add_review(
            Review(item_id="it00", reviewer="ann", action="fix", value=fix, queue="active")
        )
        receiver.script("item.decided", [503])
        sent = cli("webhooks", "deliver", "-p", p).output
        assert "1 new events; 2 attempts: 1 delivered" in sent
        assert [r.status for r in receiver.received] == [503, 200]
        assert receiver.received[-1].signed
        log = cli("webhooks", "deliveries", "--webhook", "1", "--limit", "5", "-p", p).output
        assert "item.decided  delivered after 2 attempts" in log
        assert "503" in log and "the receiver answered 503" in log and "200" in log
        rows = json.loads(cli("webhooks", "deliveries", "--json", "-p", p).stdout)
        assert [a["status_code"] for a in rows[0]["log"]] == [503, 200]
        assert "0 new events; 0 attempts" in cli("webhooks", "deliver", "-p", p).output

        assert "Webhook 1 (" in cli("webhooks", "remove", "1", "-p", p).output
        assert "No webhooks yet" in cli("webhooks", "list", "-p", p).output
        # a removed webhook's log stays
        assert "delivered" in cli("webhooks", "deliveries", "--webhook", "1", "-p", p).output
        project.store.close()


def test_calibrate_delivers_its_event_before_it_exits(root):
    p = str(root)
    with Receiver() as receiver:
        cli("webhooks", "add", receiver.url, "--event", "calibration.done", "-p", p)
        project = load_project(root)
        calibration_ready(project)
        project.store.close()
        cli("calibrate", "-p", p)  # no `webhooks deliver`: the command sent it
        [sent] = receiver.received
        assert sent.signed and sent.payload["data"]["model"] == "local"
        assert "Nothing is auto-accepted" in sent.payload["data"]["guarantee"]
        assert "0 attempts" in cli("webhooks", "deliver", "-p", p).output


def test_the_secret_is_not_set_here(root, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)
    added = cli("webhooks", "add", "https://93.184.216.34/hook", "--secret-env", "HOOK_KEY",
                "-p", str(root))  # fmt: skip
    assert "HOOK_KEY is not set here" in added.output
    assert "not set in this process" in cli("webhooks", "list", "-p", str(root)).output
    monkeypatch.setenv("HOOK_KEY", "x" * 32)
    assert "set in this process)" in cli("webhooks", "list", "-p", str(root)).output


@pytest.mark.parametrize(
    "args, said",
    [
        (["add", "http://10.0.0.5/hook"], "is private: webhooks go to public addresses only"),
        (["add", "https://u:p@93.184.216.34/"], "must not hold credentials"),
        (["add", "ftp://93.184.216.34/"], "http or https"),
        (
            ["add", "https://93.184.216.34/", "--event", "item.done"],
            "valid events are item.decided",
        ),
        (
            ["add", "https://93.184.216.34/", "--secret-env", "MY-KEY"],
            "not an environment variable",
        ),
        (["remove", "7"], "No webhook 7"),
        (["deliveries", "--webhook", "7"], "No webhook 7"),
    ],
)
def test_bad_input_is_one_line_saying_what_to_do(root, args, said):
    from labelloop.core.errors import LabelloopError

    with pytest.raises(LabelloopError, match=said):
        runner.invoke(app, ["webhooks", *args, "-p", str(root)], catch_exceptions=False)


def test_a_weak_secret_and_a_duplicate_are_refused_as_one_line(root, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "short")
    done = subprocess.run(
        [sys.executable, "-m", "labelloop.ui.cli", "webhooks", "add", "https://93.184.216.34/",
         "-p", str(root)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1 and "at least 16" in lines[0]
    monkeypatch.setenv(SECRET_ENV, SECRET)
    cli("webhooks", "add", "https://93.184.216.34/", "-p", str(root))
    from labelloop.core.errors import LabelloopError

    with pytest.raises(LabelloopError, match="is webhook 1 already"):
        runner.invoke(app, ["webhooks", "add", "https://93.184.216.34/", "-p", str(root)],
                      catch_exceptions=False)  # fmt: skip
