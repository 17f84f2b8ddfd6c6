"""The cascade: models tried in turn, cheapest first, each calibrated on what reached it.

``[routing] cascade = ["local", "gpt-4o-mini"]`` in labelloop.toml. Stage 1 labels every
item; a later stage labels only the items the stages before it could not auto-accept under
their guarantee (``routing.reaches``), and routing walks the stages
(``routing.route_cascade``). Each stage is calibrated only on calibration pairs of items
that reached it, and its calibration records the runs of the stages before it: recalibrating
an earlier stage changes which items reach the later ones, so a later stage auto-accepts
nothing until it is recalibrated too. Every item an earlier stage keeps is one call the
later stages never make.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labelloop.core.types import RouteDecision, Suggestion
from labelloop.route import rules as routing
from labelloop.route.rules import RoutingPolicy

if TYPE_CHECKING:
    from labelloop.store import Store


@dataclass
class StageTally:
    """What one stage did: items that reached it, that it labeled, kept and decided."""

    model: str
    reached: int = 0
    labeled: int = 0
    kept: int = 0
    #: items an earlier stage kept that this stage never labeled: calls it did not make
    avoided: int = 0
    routes: Counter = field(default_factory=Counter)

    def as_dict(self, stage: int) -> dict:
        return {
            "stage": stage,
            "model": self.model,
            "reached": self.reached,
            "labeled": self.labeled,
            "waiting": self.reached - self.labeled,
            "kept": self.kept,
            "auto_accepted": self.routes["auto_accepted"],
            "audit": self.routes["audit"],
            "routes": dict(sorted(self.routes.items())),
            "calls_avoided": self.avoided,
        }


@dataclass
class Walk:
    """Every item's route decision with its deciding suggestion, and a tally per stage."""

    decided: list[tuple[RouteDecision, Suggestion | None]]
    tally: list[StageTally]


def _latest(store: Store, policies: Sequence[RoutingPolicy]) -> list[dict[str, Suggestion]]:
    return [store.latest_suggestions(model=p.model) for p in policies]


def reached_items(store: Store, policies: Sequence[RoutingPolicy], model: str) -> set[str] | None:
    """Items that reach the model's stage; None when all do (stage 1, or not a stage)."""
    models = [p.model for p in policies]
    if model not in models[1:]:
        return None
    k = models.index(model)
    latest = _latest(store, policies[:k])
    return {
        item_id
        for item_id in store.item_ids()
        if routing.reaches([(s.get(item_id), p) for s, p in zip(latest, policies[:k], strict=True)])
    }


def walk(store: Store, policies: Sequence[RoutingPolicy], reviewed: set[str]) -> Walk:
    """Route every item through the stages, counting what each stage did."""
    latest = _latest(store, policies)
    tally = [StageTally(model=p.model) for p in policies]
    decided = []
    for item_id in store.item_ids():
        stages = [(s.get(item_id), p) for s, p in zip(latest, policies, strict=True)]
        d = routing.route_cascade(item_id, stages, item_id in reviewed)
        by = routing.decider(stages)
        _count(tally, stages, by, d)
        decided.append((d, stages[by][0]))
    return Walk(decided, tally)


def _count(tally: list[StageTally], stages, by: int, d: RouteDecision) -> None:
    k = routing.depth(stages)
    for j, (suggestion, _) in enumerate(stages[: k + 1]):
        tally[j].reached += 1
        tally[j].labeled += suggestion is not None
    tally[by].routes[d.route.value] += 1
    if stages[k][0] is not None and routing.keeps(*stages[k]):
        tally[k].kept += 1
        for j in range(k + 1, len(stages)):
            tally[j].avoided += stages[j][0] is None


def savings(tally: Sequence[dict], llm_totals: dict[str, dict]) -> dict:
    """LLM calls the cascade did not make, and their cost at each model's average per call.

    ``tally``: ``StageTally.as_dict`` per stage; ``llm_totals``: the call log's totals per
    model. A model with no priced calls yet counts its avoided calls at no cost (unknown).
    """
    stages, calls, cost, unknown = [], 0, 0.0, []
    for t in tally[1:]:
        totals = llm_totals.get(t["model"]) or {}
        n, spent = totals.get("calls", 0), totals.get("cost_usd", 0.0)
        per_call = spent / n if n and spent > 0 else None
        saved = t["calls_avoided"] * per_call if per_call is not None else 0.0
        stages.append(
            {"model": t["model"], "avg_cost_per_call": per_call, "cost_avoided_usd": saved}
        )
        calls += t["calls_avoided"]
        cost += saved
        if per_call is None and t["calls_avoided"]:
            unknown.append(t["model"])
    return {
        "llm_calls_avoided": calls,
        "cost_avoided_usd": cost,
        "price_unknown": unknown,
        "stages": stages,
    }
