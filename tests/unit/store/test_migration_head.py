"""Opening a store at the head revision reads the head from the migration scripts as text
and the store's revision with plain SQL: alembic is imported only to create or upgrade."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from labelloop.store import Store, db
from labelloop.store.db import (
    create_engine,
    current_revision,
    head_revision,
    migrate,
    script_head,
    up_to_date,
)
from tests.support.services import postgres_database


@pytest.fixture
def scripts(tmp_path, monkeypatch):
    """A migrations folder of our own; ``write(name, text)`` adds a script to it."""
    (tmp_path / "versions").mkdir()
    monkeypatch.setattr(db, "MIGRATIONS", tmp_path)
    script_head.cache_clear()

    def write(name: str, text: str) -> None:
        (tmp_path / "versions" / name).write_text(text, encoding="utf-8")

    yield write
    script_head.cache_clear()


def test_the_head_read_as_text_is_alembics():
    assert script_head() == head_revision()


def test_the_head_is_the_revision_no_script_revises(scripts):
    scripts("__init__.py", "")
    scripts("b.py", 'revision = "b"\ndown_revision = "a"\n')
    scripts("a.py", "revision = 'a'\ndown_revision = None\n")
    # the annotated form alembic's own template writes
    scripts("c.py", 'revision: str = "c"\ndown_revision: Union[str, None] = "b"  # after b\n')
    assert script_head() == "c"


@pytest.mark.parametrize(
    "extra",
    [
        'revision = "x"\ndown_revision = "a"\n',  # a branch: two heads
        'revision = "x"\ndown_revision = ("a", "b")\n',  # a merge
        'revision = REV\ndown_revision = "b"\n',  # not a plain string
        'down_revision = "b"\n',  # no revision
        'revision = "b"\ndown_revision = "a"\n',  # the same revision twice
        'revision = "x"\ndown_revision = "gone"\n',  # revises no script
    ],
)
def test_anything_but_one_plain_chain_is_left_to_alembic(scripts, extra):
    scripts("a.py", 'revision = "a"\ndown_revision = None\n')
    scripts("b.py", 'revision = "b"\ndown_revision = "a"\n')
    scripts("x.py", extra)
    assert script_head() is None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    with postgres_database() as server:
        yield server


def test_a_store_behind_the_head_is_upgraded_by_alembic(url):
    engine = create_engine(url)
    assert not up_to_date(engine)  # a new store: no alembic_version table yet
    migrate(engine, "m012")
    assert not up_to_date(engine)
    migrate(engine)
    assert up_to_date(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_an_up_to_date_store_opens_without_importing_alembic(url):
    Store.open(url).close()  # created and migrated by alembic
    code = (
        "import json, sys\n"
        "from labelloop.store import Store\n"
        f"s = Store.open({url!r})\n"
        "s.set_state('k', {'v': 1})\n"
        "print(json.dumps([s.get_state('k'), sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('alembic', 'mako'))]))\n"
        "s.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    state, loaded = json.loads(done.stdout.splitlines()[-1])
    assert state == {"v": 1}
    assert loaded == []
