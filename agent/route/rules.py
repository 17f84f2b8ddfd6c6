"""Routing: where each labeled item goes. Pure functions; the policy is plain data.

A uniform random share of labeled items goes to the calibration queue (shown blind), so
that calibration learns from an unbiased sample. Auto-acceptance needs a calibrated
threshold chosen with a guarantee (``labelloop calibrate``), applied only to suggestions
made under the model, prompt and guideline versions it was fitted on; a fixed threshold
set in ``labelloop.toml`` is an explicit opt-in without a guarantee. A random share of
what would be auto-accepted goes to the audit queue instead (shown blind), and an audit
alarm stops auto-acceptance. Failures, abstentions and items flagged as possible prompt
injection always go to people.

A guideline that asks several questions is routed question by question: after the same
item-level steps (people's decisions, failures, the calibration draw, prompt injection),
each question's answer is auto-accepted when its own calibrated confidence clears its own
threshold (``RoutingPolicy.questions``). An item with every answer accepted is
auto-accepted; one with some accepted waits in the active queue for the others (the
accepted ones recorded on the decision); the audit draw picks from items with at least one
accepted answer.

A cascade tries models in turn, cheapest first: each stage keeps what it may auto-accept
under its own guarantee, and passes the rest on to the next stage once that stage has
labeled it; the last stage an item reaches decides its route.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from pydantic import Field

from labelloop.core.types import Frozen, Route, RouteDecision, Suggestion
from labelloop.route.questions import question_suggestion


class RoutingPolicy(Frozen):
    """What routing needs to know: the threshold in force and the sampling rates."""

    #: auto-accept at or above this; None: nothing is auto-accepted
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    #: the threshold applies to calibrated probabilities of these versions only
    calibrated: bool = False
    prompt_version: str | None = None
    guideline_version: str | None = None
    calibration_rate: float = Field(0.1, ge=0.0, le=1.0)
    audit_rate: float = Field(0.02, ge=0.0, le=1.0)
    alarm: bool = False
    seed: int = 0
    #: the model whose suggestions this policy routes (named in cascade reasons)
    model: str | None = None
    #: the threshold is on this signal (one ordering signal), else on the calibrated probability
    score_signal: str | None = None
    #: why nothing is auto-accepted when there is no threshold
    uncalibrated: str = "not calibrated yet: nothing is auto-accepted"
    #: a guideline with questions: each question's own policy (its threshold, versions and
    #: score signal), by question name in guideline order; None: one question
    questions: dict[str, RoutingPolicy] | None = None


class QuestionsDecision(RouteDecision):
    """The verdict for an item of a guideline with questions: also the questions whose
    answers are auto-accepted (people answer only the others)."""

    accepted: tuple[str, ...] = ()


#: one cascade stage for one item: the stage's suggestion (None: not labeled yet), its policy
Stage = tuple[Suggestion | None, RoutingPolicy]


def uniform_draw(item_id: str, seed: int, stream: str = "calibration") -> float:
    """A reproducible U[0,1) draw per item, independent of anything the model said."""
    digest = hashlib.sha256(f"{stream}:{seed}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_calibration_sample(item_id: str, policy: RoutingPolicy) -> bool:
    return uniform_draw(item_id, policy.seed) < policy.calibration_rate


def route_item(
    item_id: str, suggestion: Suggestion | None, reviewed: bool, policy: RoutingPolicy
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
    injection = suggestion.signals.get("injection")
    if injection is not None:  # the item may have told the model what to answer
        return decide(
            Route.ACTIVE,
            f"possible prompt injection in the item (score {injection:.2f}): a person decides",
        )
    if policy.questions:
        return _by_questions(item_id, suggestion, policy)
    return _by_threshold(item_id, suggestion, policy, decide)


def _by_questions(item_id: str, suggestion: Suggestion, policy: RoutingPolicy) -> RouteDecision:
    """Each question's answer on its own threshold; the item's route from what is accepted."""
    accepted, notes = [], []
    for name, rules in (policy.questions or {}).items():
        ok, why = answer_verdict(question_suggestion(suggestion, name), rules, policy.alarm)
        notes.append(f"{name}: {why}")
        if ok:
            accepted.append(name)
    reason = "; ".join(notes)

    def decide(route: Route, head: str = "") -> RouteDecision:
        return QuestionsDecision(
            item_id=item_id,
            route=route,
            reason=head + reason,
            suggestion_id=suggestion.id,
            accepted=tuple(accepted),
        )

    if not accepted:
        return decide(Route.ACTIVE)
    if uniform_draw(item_id, policy.seed, "audit") < policy.audit_rate:
        return decide(
            Route.AUDIT, f"random audit of auto-accepted answers ({policy.audit_rate:.0%}); "
        )
    if len(accepted) == len(policy.questions or {}):
        return decide(Route.AUTO_ACCEPTED)
    return decide(Route.ACTIVE, f"people answer {len(notes) - len(accepted)} question(s); ")


def answer_verdict(
    suggestion: Suggestion, policy: RoutingPolicy, alarm: bool = False
) -> tuple[bool, str]:
    """Whether one question's answer is auto-accepted, and why (or why not)."""
    if suggestion.value is None:
        return False, "no answer from the model"
    if suggestion.value.abstain:
        return False, "the model abstained (none of the labels)"
    score = score_of(suggestion, policy)
    shown = "n/a" if score is None else f"{score:.2f}"
    if policy.threshold is None:
        return False, policy.uncalibrated
    if alarm or policy.alarm:
        return False, "audit alarm: auto-accepting is stopped until recalibrated"
    if score is None:
        return False, "no calibrated probability for this model version"
    if score < policy.threshold:
        return False, f"confidence {shown} < threshold {policy.threshold:.3f}"
    return True, f"confidence {shown} >= threshold {policy.threshold:.3f}"


def _by_threshold(item_id: str, suggestion: Suggestion, policy: RoutingPolicy, decide):
    score = score_of(suggestion, policy)
    shown = "n/a" if score is None else f"{score:.2f}"
    if policy.threshold is None:
        return decide(Route.ACTIVE, policy.uncalibrated)
    if policy.alarm:
        return decide(Route.ACTIVE, "audit alarm: auto-accepting is stopped until recalibrated")
    if score is None:
        return decide(Route.ACTIVE, "no calibrated probability for this model version")
    if score < policy.threshold:
        return decide(Route.ACTIVE, f"confidence {shown} < threshold {policy.threshold:.3f}")
    if uniform_draw(item_id, policy.seed, "audit") < policy.audit_rate:
        return decide(
            Route.AUDIT, f"random audit of auto-accepted labels ({policy.audit_rate:.0%})"
        )
    return decide(Route.AUTO_ACCEPTED, f"confidence {shown} >= threshold {policy.threshold:.3f}")


def keeps(suggestion: Suggestion | None, policy: RoutingPolicy) -> bool:
    """Whether a cascade stage keeps the item instead of passing it on to the next stage.

    It keeps what clears its threshold (it would auto-accept or audit it) and possible prompt
    injections (no later stage could auto-accept those either). The calibration sample and
    the audit alarm do not change what a stage keeps.
    """
    if suggestion is None or suggestion.value is None or suggestion.status == "failed":
        return False
    if suggestion.value.abstain:
        return False
    if suggestion.signals.get("injection") is not None:
        return True
    score = score_of(suggestion, policy)
    return policy.threshold is not None and score is not None and score >= policy.threshold


def depth(stages: Sequence[Stage]) -> int:
    """The index of the stage an item reached: the first that has not labeled it or keeps it."""
    for k, (suggestion, policy) in enumerate(stages):
        if suggestion is None or keeps(suggestion, policy) or k == len(stages) - 1:
            return k
    raise ValueError("a cascade needs at least one stage")


def reaches(earlier: Sequence[Stage]) -> bool:
    """Whether an item reaches the stage after ``earlier``: each labeled it and passed it on."""
    return all(s is not None and not keeps(s, p) for s, p in earlier)


def decider(stages: Sequence[Stage]) -> int:
    """The index of the stage whose suggestion routes the item (see ``route_cascade``)."""
    k = depth(stages)
    return k - 1 if k > 0 and stages[k][0] is None else k


def route_cascade(item_id: str, stages: Sequence[Stage], reviewed: bool) -> RouteDecision:
    """The route of one item through a cascade of (suggestion, policy) stages, cheapest first.

    The stage the item reached decides, as ``route_item`` would on its own; an item waiting
    for a stage to label it keeps the route the stage before gave it. The reason names the
    deciding stage.
    """
    k, reached = decider(stages), depth(stages)
    waiting = ""
    if k < reached:
        waiting = f"; stage {reached + 1} ({stages[reached][1].model}) has not labeled it yet"
    suggestion, policy = stages[k]
    d = route_item(item_id, suggestion, reviewed, policy)
    if d.route == Route.REVIEWED:
        return d
    reason = f"stage {k + 1} ({policy.model}): {d.reason}{waiting}"
    return d.model_copy(update={"reason": reason})


def score_of(suggestion: Suggestion, policy: RoutingPolicy) -> float | None:
    """The probability the threshold is compared with, or None when it does not apply."""
    if not policy.calibrated:
        return suggestion.calibrated if suggestion.calibrated is not None else suggestion.confidence
    same = (suggestion.prompt_version, suggestion.guideline_version) == (
        policy.prompt_version,
        policy.guideline_version,
    )
    if not same:
        return None
    if policy.score_signal is None:
        return suggestion.calibrated
    value = suggestion.signals.get(policy.score_signal)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def confidence_of(suggestion: Suggestion) -> float:
    """The calibrated probability when there is one, else the model's own."""
    if suggestion.calibrated is not None:
        return suggestion.calibrated
    return suggestion.confidence if suggestion.confidence is not None else 0.0


#: probability-like signals whose disagreement makes an item more worth a person's time
AGREEING_SIGNALS = (
    "logprob_renorm",
    "logprob_prob",
    "verbalized",
    "local_prob",
    "self_consistency",
)


def priority(decision: RouteDecision, suggestion: Suggestion | None) -> float:
    """Order within a queue, lowest first: failures, then low confidence and split signals.

    The value of a review is highest where the model is least sure, and where its own
    signals disagree (say logprobs near 1 but a verbalized 0.4): the spread between them is
    subtracted from the confidence.
    """
    if decision.route == Route.FAILED or suggestion is None:
        return -1.0
    probs = [v for k in AGREEING_SIGNALS if (v := suggestion.signals.get(k)) is not None]
    spread = max(probs) - min(probs) if len(probs) > 1 else 0.0
    return confidence_of(suggestion) - spread


RoutingPolicy.model_rebuild()
