"""The whole loop through the CLI: init, import, label, status, review, export, demo."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelloop.core.errors import LabelloopError
from labelloop.core.resources import demo_guideline, demo_sample
from labelloop.core.types import LabelValue, Review
from labelloop.project import load_project
from labelloop.store.review_queue import RouteChange
from labelloop.ui.cli import app

runner = CliRunner()


def cli(*args: str, ok: bool = True, input: str | None = None):
    result = runner.invoke(app, list(args), catch_exceptions=False, input=input)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def sample_rows(n: int) -> list[dict]:
    lines = demo_sample().read_text(encoding="utf-8").splitlines()[:n]
    return [json.loads(line) for line in lines]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def project_dir(tmp_path):
    root = tmp_path / "proj"
    cli("init", str(root), "--guideline", str(demo_guideline()))
    return root


def test_init_refuses_an_existing_project(project_dir):
    result = runner.invoke(app, ["init", str(project_dir), "--guideline", str(demo_guideline())])
    assert result.exit_code != 0


def test_whole_loop(project_dir, tmp_path):
    rows = sample_rows(300)
    gold = write_jsonl(tmp_path / "gold.jsonl", rows[:150])
    todo = write_jsonl(
        tmp_path / "todo.jsonl", [{"id": r["id"], "text": r["text"]} for r in rows[150:]]
    )
    p = str(project_dir)
    assert "150 reviews added" in cli("import", str(gold), "--reviewer", "alice", "-p", p).output
    cli("import", str(todo), "-p", p)
    assert "Labeled 300 items" in cli("label", "-p", p).output

    status = json.loads(cli("status", "--json", "-p", p).output)
    assert status["items"] == 300 and status["reviews"] == 150
    assert status["routes"]["reviewed"] == 150
    waiting = sum(status["routes"][r] for r in ("auto_accepted", "calibration", "active"))
    assert waiting == 150

    # A reviewer fixes one active item; the export carries it as a human label.
    project = load_project(project_dir)
    lease, ctx = project.store.lease_next("bob", ["active", "calibration"], 600, datetime.now(UTC))
    item = ctx.item
    fix = Review(
        item_id=item.id,
        reviewer="bob",
        action="fix",
        value=LabelValue(label="card_arrival"),
        queue=lease.queue,
    )
    project.store.record_decision(fix, RouteChange("reviewed", "fix by bob", "card_arrival"))
    out = tmp_path / "out.jsonl"
    cli("export", str(out), "-p", p)
    exported = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(exported) == 300
    fixed = exported[item.id]
    assert (fixed["label"], fixed["label_source"], fixed["route"]) == (
        "card_arrival",
        "human",
        "reviewed",
    )
    assert fixed["reviews"][-1]["reviewer"] == "bob"
    assert fixed["suggestion"]["model"] == "local" and 0 <= fixed["suggestion"]["confidence"] <= 1
    auto = [r for r in exported.values() if r["route"] == "auto_accepted"]
    assert all(
        r["label_source"] == "model" and r["label"] == r["suggestion"]["label"] for r in auto
    )
    unl = [r for r in exported.values() if r["route"] in ("active", "calibration")]
    assert all(r["label_source"] is None and "label" not in r for r in unl)

    csv_out = tmp_path / "active.csv"
    cli("export", str(csv_out), "--format", "csv", "--queue", "active", "-p", p)
    csv_rows = list(csv.DictReader(csv_out.open(encoding="utf-8")))
    assert {r["route"] for r in csv_rows} <= {"active", "failed"}
    assert len(csv_rows) == status["queues"]["active"] - (1 if lease.queue == "active" else 0)

    # The export imports back into a fresh project: human reviews only.
    other = tmp_path / "other"
    cli("init", str(other), "--guideline", str(demo_guideline()))
    cli("import", str(out), "-p", str(other))
    status2 = json.loads(cli("status", "--json", "-p", str(other)).output)
    assert status2["items"] == 300 and status2["reviews"] == 151


def test_label_dry_run_spends_nothing(project_dir, tmp_path):
    todo = write_jsonl(
        tmp_path / "todo.jsonl", [{"id": r["id"], "text": r["text"]} for r in sample_rows(20)]
    )
    cli("import", str(todo), "-p", str(project_dir))
    assert "Would label 20 items" in cli("label", "--dry-run", "-p", str(project_dir)).output
    status = json.loads(cli("status", "--json", "-p", str(project_dir)).output)
    assert status["routes"]["unlabeled"] == 20


def test_label_twice_labels_only_whats_missing(project_dir, tmp_path):
    todo = write_jsonl(
        tmp_path / "todo.jsonl", [{"id": r["id"], "text": r["text"]} for r in sample_rows(30)]
    )
    cli("import", str(todo), "-p", str(project_dir))
    assert "Labeled 30 items" in cli("label", "-p", str(project_dir)).output
    assert "Labeled 0 items" in cli("label", "-p", str(project_dir)).output


def test_users_add_reads_password_from_stdin(project_dir):
    result = runner.invoke(
        app,
        ["users", "add", "ann", "--role", "admin", "--password-stdin", "-p", str(project_dir)],
        input="correct horse battery\n",
    )
    assert result.exit_code == 0, result.output
    from labelloop.review.auth import authenticate

    assert (
        authenticate(load_project(project_dir).store, "ann", "correct horse battery").role
        == "admin"
    )


def test_users_disable_enable_and_delete(project_dir):
    """A disabled or deleted account cannot sign in, its sessions end and its items go back
    to the queues; a deleted one's reviews stay."""
    from labelloop.core.types import Item, Route
    from labelloop.review.auth import SessionPolicy, authenticate, session_user, start_session
    from tests.conftest import add_routed

    p, password = str(project_dir), "correct horse battery"
    for name in ("ann", "bob"):
        cli("users", "add", name, "--password-stdin", "-p", p, input=password + "\n")
    project = load_project(project_dir)
    store, now = project.store, datetime.now(UTC)
    add_routed(
        project,
        [
            (Item(id=i, text="where is my card"), "card_arrival", 0.5, Route.ACTIVE)
            for i in ("c1", "c2")
        ],
    )
    store.add_review(
        Review(
            item_id="c2", reviewer="ann", action="accept", value=LabelValue(label="card_arrival")
        )
    )
    token = start_session(store, "ann", SessionPolicy())
    store.lease_item("ann", "c1", "active", 600, now)

    assert "disabled" in cli("users", "disable", "ann", "-p", p).output
    assert session_user(store, token, SessionPolicy()) is None and store.sessions_for("ann") == []
    assert authenticate(store, "ann", password) is None
    assert store.lease_item("bob", "c1", "active", 600, now).item_id == "c1"  # given back
    listed = cli("users", "list", "-p", p).output
    assert "ann" in listed and "disabled" in listed.split("ann")[1].splitlines()[0]
    again = cli("users", "add", "ann", "--password-stdin", "-p", p, input=password + "\n")
    assert "stays disabled" in again.output and authenticate(store, "ann", password) is None
    cli("users", "enable", "ann", "-p", p)
    assert authenticate(store, "ann", password).name == "ann"

    token = start_session(store, "ann", SessionPolicy())
    assert "their reviews stay" in cli("users", "delete", "ann", "-p", p).output
    assert authenticate(store, "ann", password) is None
    assert session_user(store, token, SessionPolicy()) is None and store.sessions_for("ann") == []
    assert [r.reviewer for r in store.reviews_for("c2")] == ["ann"]
    assert "ann" not in cli("users", "list", "-p", p).output
    with pytest.raises(LabelloopError, match="No console account 'ann': the accounts are bob"):
        cli("users", "disable", "ann", "-p", p)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "labelloop.ui.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_errors_are_one_line_with_the_fix(tmp_path):
    result = run_cli("status", cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "labelloop init" in lines[0] and "Traceback" not in result.stderr


def test_an_error_quoting_brackets_prints_them(tmp_path):
    """A message may quote the span-mark syntax "[words](label)": it is printed as written,
    not read as terminal markup."""
    g = tmp_path / "g.md"
    g.write_text(
        "---\ntask: t\nkind: spans\nlabels: [city]\n---\n# T\n\n## Labels\n\n### city\n"
        "- Example: fly to [Lima(city)\n",
        encoding="utf-8",
    )
    result = run_cli("init", str(tmp_path / "p"), "--guideline", str(g), cwd=tmp_path)
    assert result.returncode == 1
    assert "[words](label)" in result.stderr and "g.md:11" in result.stderr


def test_import_error_names_file_and_line(project_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "ok"}\n{"id": "b", "text": "x", "label": "nope"}\n')
    result = run_cli("import", str(bad), "-p", str(project_dir), cwd=tmp_path)
    assert result.returncode == 1
    assert "bad.jsonl:2" in result.stderr and "nope" in result.stderr
    status = json.loads(cli("status", "--json", "-p", str(project_dir)).output)
    assert status["items"] == 0


def test_an_empty_file_is_an_error_and_records_nothing(project_dir, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run_cli("import", str(empty), "-p", str(project_dir), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: {empty}: no rows to import; the file must hold one JSON object a line, "
        'such as {"id": "1", "text": "..."}'
    )
    assert load_project(project_dir).store.imports() == []


def set_max_item_chars(project_dir: Path, value: int) -> None:
    config = project_dir / "labelloop.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("max_item_chars = 100000", f"max_item_chars = {value}"))


def test_max_item_chars_in_labelloop_toml_limits_import_and_gold(project_dir, tmp_path):
    from labelloop.core.errors import ImportFileError
    from labelloop.review.auth import add_user

    p = str(project_dir)
    assert "max_item_chars = 100000" in (project_dir / "labelloop.toml").read_text()
    set_max_item_chars(project_dir, 20)
    rows = [{"id": "a", "text": "short"}, {"id": "b", "text": "a text longer than twenty"}]
    items = write_jsonl(tmp_path / "items.jsonl", rows)
    with pytest.raises(ImportFileError, match=r"items.jsonl:2: item 'b' has 25 characters"):
        cli("import", str(items), "-p", p)
    assert load_project(project_dir).store.count_items() == 0
    cli("import", str(write_jsonl(tmp_path / "ok.jsonl", rows[:1])), "-p", p)
    add_user(load_project(project_dir).store, "ada", "admin", "correct horse battery")
    gold = write_jsonl(tmp_path / "gold.jsonl", [{**rows[1], "label": "refund"}])
    with pytest.raises(ImportFileError, match="over the limit of 20 .max_item_chars."):
        cli("gold", "add", str(gold), "--by", "ada", "-p", p)


def test_max_item_chars_must_be_positive(project_dir):
    from labelloop.core.errors import ConfigError

    set_max_item_chars(project_dir, 0)
    with pytest.raises(ConfigError, match="max_item_chars: Input should be greater than 0"):
        load_project(project_dir)


def test_demo_no_ui_summarises_against_gold(tmp_path):
    result = cli("demo", "--no-ui", "--dir", str(tmp_path / "demo"))
    assert "Local model accuracy against gold" in result.output
    project = load_project(tmp_path / "demo")
    status = json.loads(cli("status", "--json", "-p", str(tmp_path / "demo")).output)
    assert status["items"] == 3080
    assert status["routes"]["unlabeled"] == 0
    assert status["routes"]["calibration"] > 100
    assert project.store.get_user("demo").role == "admin"
    # Rebuilding the demo in the same folder starts over; any other folder is refused.
    cli("demo", "--no-ui", "--dir", str(tmp_path / "demo"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    refused = runner.invoke(app, ["demo", "--no-ui", "--dir", str(tmp_path / "mine")])
    assert refused.exit_code != 0 and (tmp_path / "mine" / "notes.txt").exists()


def test_gold_add_and_from_import(project_dir, tmp_path):
    import sqlalchemy as sa

    from labelloop.core.errors import AccessDenied, ImportFileError
    from labelloop.review.auth import add_user
    from labelloop.store.tables import GoldRow

    p, rows = str(project_dir), sample_rows(8)
    store = load_project(project_dir).store
    add_user(store, "ada", "admin", "correct horse battery")
    add_user(store, "bob", "reviewer", "correct horse battery")
    cli("import", str(write_jsonl(tmp_path / "items.jsonl", rows[:4])), "-p", p)
    gold = write_jsonl(tmp_path / "gold.jsonl", rows[:2])
    assert "2 gold items saved" in cli("gold", "add", str(gold), "--by", "ada", "-p", p).output
    with pytest.raises(AccessDenied):
        cli("gold", "add", str(gold), "--by", "bob", "-p", p)
    unlabeled = write_jsonl(tmp_path / "nolabel.jsonl", [{"id": rows[0]["id"], "text": "x"}])
    with pytest.raises(ImportFileError, match="exactly one label"):
        cli("gold", "add", str(unlabeled), "--by", "ada", "-p", p)

    sample = write_jsonl(tmp_path / "sample.jsonl", rows[4:])
    cli("import", str(sample), "--sample", "--reviewer", "alice", "-p", p)
    out = cli("gold", "from-import", "--by", "ada", "-p", p).output
    assert "4 gold items saved from sample imports" in out
    with store.engine.connect() as c:
        gold_ids = set(c.execute(sa.select(GoldRow.item_id)).scalars())
    assert gold_ids == {r["id"] for r in rows[:2] + rows[4:]}
