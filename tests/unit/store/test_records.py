"""The store hands out frozen records, never its rows: each record has its table's columns."""

from __future__ import annotations

import dataclasses

import pytest

from labelloop.core import records
from labelloop.store import sessions, tables

PAIRS = [
    (records.ItemRoute, tables.RouteRow),
    (records.Account, tables.UserRow),
    (records.LoginSession, sessions.SessionRow),
    (records.LabelMapping, tables.LabelMappingRow),
    (records.CalibrationRun, tables.CalibrationRunRow),
    (records.LLMCall, tables.LLMCallRow),
    (records.ImportRecord, tables.ImportRow),
    (records.RunLock, tables.RunLockRow),
    (records.BatchJob, tables.BatchJobRow),
]


@pytest.mark.parametrize(("record", "row"), PAIRS, ids=[r.__name__ for r, _ in PAIRS])
def test_a_record_has_its_tables_columns(record, row):
    assert dataclasses.is_dataclass(record) and record.__dataclass_params__.frozen
    columns = {c.name for c in row.__table__.columns}
    assert {f.name for f in dataclasses.fields(record)} == columns


def test_routes_and_accounts_come_back_as_records(tmp_path, guideline_file):
    from labelloop.core.types import Item, Route
    from labelloop.project import init_project
    from labelloop.review.auth import add_user
    from tests.conftest import add_routed

    project = init_project(tmp_path / "p", guideline_file)
    add_routed(
        project, [(Item(id="a", text="where is my card"), "card_arrival", 0.7, Route.ACTIVE)]
    )
    add_user(project.store, "ann", "reviewer", "a long enough password")
    route = project.store.get_route("a")
    assert isinstance(route, records.ItemRoute) and route.route is Route.ACTIVE
    assert project.store.routes_for(["a"]) == {"a": route}
    (account,) = project.store.list_users()
    assert account == project.store.get_user("ann") and "password" not in repr(account)
    with pytest.raises(dataclasses.FrozenInstanceError):
        route.route = Route.REVIEWED  # type: ignore[misc]
    project.store.close()
