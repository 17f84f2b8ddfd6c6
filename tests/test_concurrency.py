"""Concurrent use of one store: what a race between people and jobs must not break.

Each race is played out step by step: an undone skip took back an item another reviewer
had decided.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from agent.auth import add_user
from agent.config import Project, init_project
from agent.errors import ReviewConflict
from agent.review import ReviewService
from agent.types import Item, Route
from tests.conftest import add_routed
from tests.services import postgres_database

PASSWORD = "pw-concurrency-1"


def _project(root, guideline_file, url: str | None, overlap: float = 0.0) -> Project:
    """Four active items and the reviewers ann and bob (and the admin ada)."""
    settings = {"review": {"overlap": overlap, "similar_k": 0}}
    p = init_project(root, guideline_file, **settings, **({"database_url": url} if url else {}))
    items = [Item(id=f"i{k}", text=f"where is my card {k}") for k in range(4)]
    add_routed(p, [(item, "card_arrival", 0.6, Route.ACTIVE) for item in items])
    for name in ("ann", "bob"):
        add_user(p.store, name, "reviewer", PASSWORD)
    add_user(p.store, "ada", "admin", PASSWORD)
    return p


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def four(request, tmp_path, guideline_file) -> Iterator[Project]:
    """``_project`` on each backend."""
    if request.param == "sqlite":
        p = _project(tmp_path / "p", guideline_file, None)
        yield p
        p.store.close()
        return
    with postgres_database() as url:
        p = _project(tmp_path / "p", guideline_file, url)
        yield p
        p.store.close()


def test_an_undone_skip_does_not_take_back_an_item_another_reviewer_decided(four):
    svc = ReviewService(four, background_prefetch=False)
    skipped = svc.next_item("ann").item.id
    svc.decide("ann", skipped, "skip")
    assert svc.next_item("bob").item.id == skipped  # free again, and first in the queue
    svc.decide("bob", skipped, "fix", "refund")
    with pytest.raises(ReviewConflict, match="has left the active queue"):
        svc.undo("ann")
    assert skipped not in {lease.item_id for lease in four.store.leases_of("ann", _now())}
    decided = [r.reviewer for r in four.store.reviews_for(skipped) if r.action != "skip"]
    assert decided == ["bob"] and four.store.get_route(skipped).route == "reviewed"
    # a skipped item still waiting in its queue is taken back
    current = svc.next_item("ann").item.id
    svc.decide("ann", current, "skip")
    assert svc.undo("ann").item.id == current
    svc.close()


# --- helpers --------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)
