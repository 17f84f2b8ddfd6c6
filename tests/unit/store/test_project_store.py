"""A project opens the store it records, and no other: never a new, empty one instead."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelloop.core.errors import ConfigError, StoreError
from labelloop.core.resources import demo_guideline
from labelloop.project import DB_NAME, init_project, load_project
from labelloop.store.db import same_store, sqlite_url, without_password
from labelloop.ui.cli import app, main
from tests.support.services import postgres_database

runner = CliRunner()
ENV = "LABELLOOP_DATABASE_URL"
ROWS = [{"id": f"i{n}", "text": f"Where is my card number {n}?"} for n in range(4)]


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def failing(capsys, *args: str) -> str:
    """Run the real entry point, expecting exit 1; its one-line error."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.argv", ["labelloop", *args])
        with pytest.raises(SystemExit) as exited:
            main()
    assert exited.value.code == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    return line


def items_file(tmp_path: Path) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def set_url(root: Path, url: str) -> None:
    """Name a store in labelloop.toml by hand (top-level keys come before the tables)."""
    toml = root / "labelloop.toml"
    toml.write_text(f'database_url = "{url}"\n' + toml.read_text(encoding="utf-8"), "utf-8")


def recorded(root: Path) -> dict:
    return tomllib.loads((root / "labelloop.toml").read_text(encoding="utf-8"))


def test_init_under_the_environment_records_the_store(tmp_path, monkeypatch) -> None:
    team = tmp_path / "shared" / "team.db"
    team.parent.mkdir()
    root = tmp_path / "proj"
    monkeypatch.setenv(ENV, sqlite_url(team))
    cli("init", str(root), "--guideline", str(demo_guideline()))
    cli("import", str(items_file(tmp_path)), "-p", str(root))
    assert recorded(root)["database_url"] == sqlite_url(team)

    monkeypatch.delenv(ENV)
    status = json.loads(cli("status", "--json", "-p", str(root)))
    assert status["items"] == len(ROWS)  # the team's store, not a new empty one
    assert not (root / DB_NAME).exists()


def test_a_relative_sqlite_url_is_recorded_absolute(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV, "sqlite:///rel.db")
    project = init_project(tmp_path / "proj", demo_guideline())
    assert project.config.database_url == sqlite_url(tmp_path / "rel.db")


def test_environment_naming_another_store_is_refused(tmp_path, monkeypatch, capsys) -> None:
    root = tmp_path / "proj"
    cli("init", str(root), "--guideline", str(demo_guideline()))
    assert "database_url" not in recorded(root)
    other = tmp_path / "other.db"
    monkeypatch.setenv(ENV, sqlite_url(other))
    line = failing(capsys, "status", "-p", str(root))
    assert str(other) in line and str(root / DB_NAME) in line and f"unset {ENV}" in line
    assert not other.exists()

    monkeypatch.setenv(ENV, "postgresql://ann:s3cret@db.example:5432/labels")
    line = failing(capsys, "status", "-p", str(root))
    assert "postgresql://ann@db.example:5432/labels" in line and "s3cret" not in line

    # naming the project's own store (spelled otherwise) is fine
    monkeypatch.setenv(ENV, f"sqlite:///{root}/./{DB_NAME}")
    assert json.loads(cli("status", "--json", "-p", str(root)))["items"] == 0


def test_a_recorded_server_that_cannot_connect_never_falls_back(tmp_path, capsys) -> None:
    root = tmp_path / "proj"
    cli("init", str(root), "--guideline", str(demo_guideline()))
    (root / DB_NAME).unlink()
    set_url(root, "postgresql://ann@127.0.0.1:1/labels")
    line = failing(capsys, "status", "-p", str(root))
    assert line.startswith("Error: Cannot open the store at postgresql") and "PGPASSWORD" in line
    assert not (root / DB_NAME).exists()


def test_a_missing_sqlite_store_is_not_replaced_by_an_empty_one(tmp_path, capsys) -> None:
    root = tmp_path / "proj"
    cli("init", str(root), "--guideline", str(demo_guideline()))
    cli("import", str(items_file(tmp_path)), "-p", str(root))
    (root / DB_NAME).rename(tmp_path / "moved.db")
    line = failing(capsys, "status", "-p", str(root))
    assert "is missing" in line and str(root / DB_NAME) in line
    assert not (root / DB_NAME).exists()


def test_another_projects_store_is_refused(tmp_path, capsys) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        cli("init", str(root), "--guideline", str(demo_guideline()))
    assert recorded(a)["project_id"] != recorded(b)["project_id"]
    set_url(b, sqlite_url(a / DB_NAME))
    line = failing(capsys, "status", "-p", str(b))
    assert "belongs to another project" in line and recorded(a)["project_id"] in line
    with pytest.raises(StoreError, match="another project"):
        _ = load_project(b).store


def test_init_on_a_store_with_a_project_joins_it(tmp_path) -> None:
    first = init_project(tmp_path / "a", demo_guideline())
    url = sqlite_url(tmp_path / "a" / DB_NAME)
    second = init_project(tmp_path / "b", demo_guideline(), database_url=url)
    assert second.config.project_id == first.config.project_id
    assert load_project(tmp_path / "b").store.get_state("project") == {
        "id": first.config.project_id
    }


def test_init_refuses_two_different_stores(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(ENV, sqlite_url(tmp_path / "env.db"))
    with pytest.raises(ConfigError, match="give one store"):
        init_project(tmp_path / "p", demo_guideline(), database_url=sqlite_url(tmp_path / "x.db"))
    assert not (tmp_path / "p").exists()


def test_urls_without_passwords() -> None:
    assert without_password("postgresql://ann:s3%40cret@h:6543/db?sslmode=require") == (
        "postgresql://ann@h:6543/db?sslmode=require"
    )
    assert without_password("postgres://ann@h/db?password=x") == "postgres://ann@h/db"
    assert same_store("postgres://ann:pw@h/db", "postgresql+psycopg://ann@h:5432/db")
    assert not same_store("postgresql://ann@h/db", "postgresql://bob@h/db")
    assert not same_store("postgresql://ann@h/db", "postgresql://ann@h/other")


@pytest.mark.postgres
def test_postgres_url_recorded_without_password(tmp_path, monkeypatch, capsys) -> None:
    with postgres_database() as url:  # the test server trusts: any password is accepted
        with_password = url.replace("://postgres@", "://postgres:s3cret@", 1)
        assert with_password != url
        root = tmp_path / "proj"
        monkeypatch.setenv(ENV, with_password)
        cli("init", str(root), "--guideline", str(demo_guideline()))
        cli("import", str(items_file(tmp_path)), "-p", str(root))
        assert recorded(root)["database_url"] == url
        assert "s3cret" not in (root / "labelloop.toml").read_text(encoding="utf-8")

        monkeypatch.delenv(ENV)  # the password would come from PGPASSWORD or ~/.pgpass
        assert json.loads(cli("status", "--json", "-p", str(root)))["items"] == len(ROWS)
        assert not (root / DB_NAME).exists()

        monkeypatch.setenv(ENV, url.rsplit("/", 1)[0] + "/postgres")
        line = failing(capsys, "status", "-p", str(root))
        assert "names the store" in line and url in line and "s3cret" not in line
        monkeypatch.delenv(ENV)
        load_project(root).store.close()
