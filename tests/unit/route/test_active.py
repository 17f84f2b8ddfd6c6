"""The active queue's order: deterministic, failures first, diverse picks spread over clusters,
and the option in labelloop.toml checked."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop import loop
from labelloop.core.errors import ConfigError
from labelloop.core.types import LabelValue, Route, RouteDecision, Suggestion
from labelloop.project import CONFIG_NAME, load_project
from labelloop.route import active
from labelloop.route import rules as routing
from tests.support.llm import make_project


def two_blobs(n: int = 200, seed: int = 0) -> tuple[dict[str, float], np.ndarray, set[str]]:
    """Items in two far-apart blobs; every item of blob "a" is less certain than any of "b"."""
    rng = np.random.default_rng(seed)
    centre = np.zeros((2, 16), dtype=np.float32)
    centre[0, 0], centre[1, 1] = 1.0, 1.0
    vecs = np.vstack([centre[k] + 0.05 * rng.normal(size=(n, 16)) for k in (0, 1)])
    ids = [f"a{k:03d}" for k in range(n)] + [f"b{k:03d}" for k in range(n)]
    values = np.r_[rng.uniform(0.1, 0.4, n), rng.uniform(0.5, 0.9, n)]
    return dict(zip(ids, values.tolist(), strict=True)), vecs.astype(np.float32), set(ids[n:])


def lookup(ids_in_order: list[str], vecs: np.ndarray):
    row = {i: k for k, i in enumerate(ids_in_order)}
    asked: list[list[str]] = []

    def vectors(ids):
        asked.append(list(ids))
        return vecs[[row[i] for i in ids]]

    return vectors, asked


def queue(priorities: dict[str, float]) -> list[str]:
    """Item ids in the order the store serves them: priority, then id."""
    return sorted(priorities, key=lambda i: (priorities[i], i))


def test_diverse_picks_cover_both_clusters_where_uncertainty_stays_in_one():
    prio, vecs, blob_b = two_blobs()
    vectors, _ = lookup(list(prio), vecs)
    k = 10
    diverse = queue(active.reorder(prio, "diverse", vectors, batch=k, pool_factor=40))
    plain = queue(active.reorder(prio, "uncertainty", vectors, batch=k))
    assert {i in blob_b for i in plain[:k]} == {False}
    assert {i in blob_b for i in diverse[:k]} == {False, True}
    # each cluster's most uncertain item first: the very first pick is the least certain item
    assert diverse[0] == plain[0]


def test_order_is_deterministic_and_ignores_the_input_order():
    prio, vecs, _ = two_blobs()
    vectors, _ = lookup(list(prio), vecs)
    first = active.reorder(prio, "diverse", vectors, seed=3, batch=10, pool_factor=5)
    shuffled = dict(sorted(prio.items(), key=lambda kv: kv[0][::-1]))
    assert active.reorder(shuffled, "diverse", vectors, seed=3, batch=10, pool_factor=5) == first
    assert set(first) == set(prio)


def test_only_the_pool_is_embedded_and_the_tail_keeps_its_uncertainty_order():
    prio, vecs, _ = two_blobs()
    vectors, asked = lookup(list(prio), vecs)
    new = active.reorder(prio, "diverse", vectors, batch=10, pool_factor=3)
    plain = queue(prio)
    assert asked == [plain[:30]]  # the 30 most uncertain items, nothing else
    ordered = queue(new)
    assert set(ordered[:30]) == set(plain[:30]) and ordered[30:] == plain[30:]


def test_a_queue_no_longer_than_a_batch_is_left_in_uncertainty_order_unembedded():
    prio = {"x": 0.3, "y": 0.1, "z": 0.2}
    vectors, asked = lookup(list(prio), np.eye(3, dtype=np.float32))
    assert active.reorder(prio, "diverse", vectors, batch=10) == prio
    assert asked == []


def test_random_order_is_the_seeded_uniform_draw_per_item():
    prio = {f"i{k}": k / 100 for k in range(50)}
    new = active.reorder(prio, "random", lambda ids: pytest.fail("random embeds nothing"), seed=7)
    assert queue(new) == sorted(prio, key=lambda i: routing.uniform_draw(i, 7, "active"))
    assert sorted(new.values()) == pytest.approx(sorted(prio.values()), abs=1e-6)


def test_failed_and_injection_items_keep_routing_priority_and_failures_come_first():
    def suggestion(item_id: str, conf: float, **signals) -> Suggestion:
        return Suggestion(
            item_id=item_id,
            model="local",
            value=LabelValue(label="refund"),
            confidence=conf,
            signals=signals,
        )

    failed = RouteDecision(item_id="f", route=Route.FAILED, reason="timeout")
    items = [(failed, None)]
    for k in range(300):
        d = RouteDecision(item_id=f"a{k:03d}", route=Route.ACTIVE, reason="")
        items.append((d, suggestion(d.item_id, 0.2 + k / 1000)))
    flagged = RouteDecision(item_id="inj", route=Route.ACTIVE, reason="injection")
    items.append((flagged, suggestion("inj", 0.25, injection=0.9)))
    priorities = {d.item_id: routing.priority(d, s) for d, s in items}
    queued = {d.item_id: priorities[d.item_id] for d, s in items if active.reorderable(d, s)}
    assert "f" not in queued and "inj" not in queued
    rng = np.random.default_rng(1)
    new = active.reorder(queued, "random", lambda ids: rng.normal(size=(len(ids), 8)))
    assert queue(priorities | new)[0] == "f"
    for order in active.ORDERS:
        vecs = rng.normal(size=(300, 8)).astype(np.float32)
        vectors, _ = lookup(sorted(queued), vecs)
        new = active.reorder(queued, order, vectors, batch=20)
        ordered = queue(priorities | new)
        assert ordered[0] == "f" and priorities["f"] == -1.0
        assert (priorities | new)["inj"] == priorities["inj"]


def test_route_orders_the_active_queue_as_labelloop_toml_says(tmp_path):
    rows = [{"id": f"r{n:03d}", "text": f"my card number {n} has not arrived"} for n in range(160)]
    project = make_project(
        tmp_path, rows, routing={"active_order": "random", "calibration_rate": 0.1}
    )
    try:
        loop.label(project)
        queued = project.store.queue_item_ids("active")
        assert len(queued) > 100
        seed = project.config.routing.seed
        assert queued == sorted(queued, key=lambda i: routing.uniform_draw(i, seed, "active"))
    finally:
        project.store.close()


def test_an_unknown_active_order_names_labelloop_toml_and_the_valid_orders(tmp_path):
    (tmp_path / CONFIG_NAME).write_text('[routing]\nactive_order = "clusters"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_project(tmp_path)
    msg = str(err.value)
    assert CONFIG_NAME in msg and "routing.active_order" in msg
    assert all(f"'{o}'" in msg for o in active.ORDERS)


def test_the_orders_labelloop_toml_accepts_are_the_orders_there_are():
    from typing import get_args

    from labelloop.project import RoutingConfig

    assert get_args(RoutingConfig.model_fields["active_order"].annotation) == active.ORDERS
