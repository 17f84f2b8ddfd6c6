"""The store's files on the host: a new SQLite database (and its -wal and -shm) is readable
and writable by its owner only, whatever the umask."""

from __future__ import annotations

import os
import stat

import pytest

from labelloop.project import DB_NAME, init_project


@pytest.fixture
def open_umask():
    before = os.umask(0o022)  # the usual default: new files 0644
    yield
    os.umask(before)


def test_a_new_project_database_and_its_wal_are_private(tmp_path, guideline_file, open_umask):
    project = init_project(tmp_path / "project", guideline_file)
    project.store.set_state("probe", {"written": True})  # the WAL and its index exist now
    db = project.root / DB_NAME
    files = [db, db.with_name(DB_NAME + "-wal"), db.with_name(DB_NAME + "-shm")]
    assert all(f.exists() for f in files)
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == dict.fromkeys(
        (f.name for f in files), 0o600
    )
    project.store.close()
