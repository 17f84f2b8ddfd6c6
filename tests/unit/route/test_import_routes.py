"""An import without labels routes only its new items: every route comes out as routing the
whole store would make it (``labelloop.route.router.route_unlabeled``)."""

from __future__ import annotations

import random
import shutil

import pytest

from labelloop import loop
from labelloop.ingest.importer import import_file as ingest
from labelloop.project import load_project
from labelloop.review.auth import add_user
from labelloop.review.service import ReviewService
from labelloop.route import router
from tests.support.llm import MODEL, make_project, write_jsonl
from tests.support.services import postgres_database

WORDS = "card arrived new lost stolen refund money back where is my please help still".split()
LABELS = ("card_arrival", "lost_or_stolen_card", "refund")


def rows(prefix: str, n: int, seed: int, labeled: bool = False) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        row = {"id": f"{prefix}{i:03d}", "text": " ".join(rng.choices(WORDS, k=8))}
        if labeled and i % 10 == 0:
            row["label"] = LABELS[i % 3]
        out.append(row)
    return out


def routed_project(root, cascade: bool = False, database_url: str | None = None):
    """240 items labeled by the local model and routed, some labels imported, some blind
    answers and active-queue decisions: every route there is, and an active queue long
    enough to be reordered."""
    routing = {"threshold": 0.9, "calibration_rate": 0.1}
    if cascade:
        routing["cascade"] = ["local", MODEL]
    url = {"database_url": database_url} if database_url else {}
    project = make_project(root, rows("a", 240, 0, labeled=True), routing=routing, **url)
    loop.label(project, "local")
    add_user(project.store, "ann", "reviewer", "pw-ann-123456")
    project.config.review.overlap = 0.0
    svc = ReviewService(project, background_prefetch=False)
    for k in range(12):
        view = svc.next_item("ann")
        svc.decide("ann", view.item.id, "fix", LABELS[k % 3])
    router.route(project)
    return project


def route_rows(project) -> dict[str, tuple]:
    """Every route row as routing wrote it, its time aside."""
    return {i: row[:-1] for i, row in project.store.route_snapshot().rows.items()}


@pytest.mark.parametrize("cascade", [False, True], ids=["one model", "cascade"])
def test_an_import_without_labels_routes_as_routing_the_whole_store_would(tmp_path, cascade):
    project = routed_project(tmp_path / "a", cascade)
    counts = project.store.route_counts()
    assert counts["active"] > 100 and counts["auto_accepted"] and counts["reviewed"]
    assert counts["calibration"]
    project.store.close()
    shutil.copytree(project.root, tmp_path / "b")  # the same store, in another folder
    other = load_project(tmp_path / "b")
    # new items, and items already there, none with a label
    new = write_jsonl(tmp_path / "new.jsonl", rows("z", 30, 1) + rows("a", 240, 0)[:20])

    got = loop.import_file(project, new)
    assert (got.items_added, got.items_existing, got.reviews_added) == (30, 20, 0)
    # what an import did before: the items, then routing over the whole store
    ingest(other.store, other.guideline(), new)
    router.route(other)
    assert route_rows(project) == route_rows(other)
    assert all(route_rows(project)[f"z{i:03d}"][0] == "unlabeled" for i in range(30))
    other.store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_routing_the_whole_store_after_an_import_without_labels_changes_nothing(tmp_path, backend):
    def check(project):
        before = route_rows(project)
        got = loop.import_file(project, write_jsonl(tmp_path / "new.jsonl", rows("z", 30, 1)))
        new = project.store.import_item_ids(got.import_id)
        assert router.route_unlabeled(project, new) == 0  # each has its row already
        after = project.store.route_snapshot().rows
        assert {i: r[:-1] for i, r in after.items() if i in before} == before
        router.route(project)
        assert project.store.route_snapshot().rows == after  # not a row written
        project.store.close()

    if backend == "sqlite":
        check(routed_project(tmp_path / "p"))
        return
    with postgres_database() as url:
        check(routed_project(tmp_path / "p", database_url=url))


def test_an_import_with_labels_routes_the_store(tmp_path):
    project = routed_project(tmp_path / "p")
    labeled = rows("a", 240, 0)[1:3]
    labeled[0]["label"], labeled[1]["label"] = "refund", "refund"
    got = loop.import_file(project, write_jsonl(tmp_path / "l.jsonl", labeled), reviewer="bo")
    assert got.reviews_added == 2
    assert {project.store.get_route(r["id"]).route for r in labeled} == {"reviewed"}
    project.store.close()


def test_add_routes_leaves_a_row_another_writer_made(tmp_path):
    project = routed_project(tmp_path / "p")
    store = project.store
    stored = store.get_route("a001")
    got = loop.import_file(project, write_jsonl(tmp_path / "n.jsonl", rows("z", 3, 2)))
    assert sorted(store.import_item_ids(got.import_id)) == ["z000", "z001", "z002"]
    assert router.route_unlabeled(project, ["a001", "z000"]) == 0
    assert store.get_route("a001") == stored
    project.store.close()
