"""Routing: where each labeled item goes. Pure functions; the policy is replaceable.

Until calibration exists, a fixed confidence threshold decides auto-acceptance, and a
uniform random share of labeled items goes to the calibration queue (shown blind), so that
calibration has an unbiased sample to learn from.
"""

from __future__ import annotations

import hashlib

from pydantic import Field

from agent.types import Frozen, Route, RouteDecision, Suggestion


class ThresholdPolicy(Frozen):
    """Fixed-threshold routing with a uniform calibration sample."""

    threshold: float = Field(0.9, ge=0.0, le=1.0)
    calibration_rate: float = Field(0.1, ge=0.0, le=1.0)
    seed: int = 0
    name: str = "threshold-v1"


def uniform_draw(item_id: str, seed: int, stream: str = "calibration") -> float:
    """A reproducible U[0,1) draw per item, independent of anything the model said."""
    digest = hashlib.sha256(f"{stream}:{seed}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_calibration_sample(item_id: str, policy: ThresholdPolicy) -> bool:
    return uniform_draw(item_id, policy.seed) < policy.calibration_rate


def route_item(
    item_id: str, suggestion: Suggestion | None, reviewed: bool, policy: ThresholdPolicy
) -> RouteDecision:
    """The route of one item given its routing suggestion and whether people decided it."""
    sid = suggestion.id if suggestion is not None else None

    def decide(route: Route, reason: str) -> RouteDecision:
        return RouteDecision(item_id=item_id, route=route, reason=reason, suggestion_id=sid)

    if reviewed:
        return decide(Route.REVIEWED, "decided by a reviewer")
    if suggestion is None:
        return decide(Route.UNLABELED, "no suggestion yet")
    if suggestion.status == "failed" or suggestion.value is None:
        return decide(Route.FAILED, suggestion.error or "the model gave no usable label")
    if suggestion.value.abstain:
        return decide(Route.ACTIVE, "the model abstained (none of the labels)")
    if in_calibration_sample(item_id, policy):
        return decide(
            Route.CALIBRATION, f"uniform calibration sample ({policy.calibration_rate:.0%})"
        )
    conf = confidence_of(suggestion)
    if conf >= policy.threshold:
        return decide(
            Route.AUTO_ACCEPTED, f"confidence {conf:.2f} >= threshold {policy.threshold:.2f}"
        )
    return decide(Route.ACTIVE, f"confidence {conf:.2f} < threshold {policy.threshold:.2f}")


def confidence_of(suggestion: Suggestion) -> float:
    """The calibrated probability when there is one, else the model's own."""
    if suggestion.calibrated is not None:
        return suggestion.calibrated
    return suggestion.confidence if suggestion.confidence is not None else 0.0


def priority(decision: RouteDecision, suggestion: Suggestion | None) -> float:
    """Order within a queue, lowest first: failures, then the least confident."""
    if decision.route == Route.FAILED or suggestion is None:
        return -1.0
    return confidence_of(suggestion)
