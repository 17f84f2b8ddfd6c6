"""Where calibration stands, in one place: what ``calibrate``, ``status`` and the dashboard say.

How many blind reviews wait in the calibration queue, how many more the last calibration
expects to be needed, and the coverage expected once they are in. Every count is a
non-negative integer; a coverage with no estimate is None in data and "unknown" in text.
"""

from __future__ import annotations

from labelloop.core.types import QUEUE_ROUTES, Queue
from labelloop.project import Project
from labelloop.route.advice import cannot_label
from labelloop.route.state import (
    MAX_AUTO_RATE,
    CalibrationState,
    calibration_rate,
    calibration_state,
    in_force,
    question_states,
    routing_model,
)


def outlook(project: Project, model: str | None = None) -> dict:
    """The calibration outlook of a model's suggestions (the routing model's by default).

    With questions (``asked_questions``), each question's under ``questions``; the item's
    own fields then say what routes items as a whole: no threshold (each question has its
    own), and the blind reviews the questions need between them (the most any needs: one
    blind review answers every question)."""
    model = model or routing_model(project)
    cal = calibration_state(project, model)
    data = {"model": model, **_standing(project, cal)}
    data = {  # the order status --json has always shown
        **{k: data[k] for k in ORDER[:6]},
        # items of the calibration queue nobody has answered yet (one answered and waiting
        # for a second reviewer's, with overlap, has given its blind answer)
        "waiting": len(project.store.queue_item_ids(Queue.CALIBRATION))
        - project.store.answered_waiting(QUEUE_ROUTES[Queue.CALIBRATION]),
        **{k: data[k] for k in ORDER[6:]},
        "calibration_rate": calibration_rate(project, cal),
        "rate_fixed": project.config.routing.calibration_rate is not None,
        # of the waiting items, those the last look counts (None: it did not say)
        "counted_waiting": cal.waiting_blind,
    }
    asked = question_states(project, model)
    if asked:
        each = {q: _standing(project, c) | {"guarantee": c.guarantee} for q, c in asked.items()}
        data |= {
            "threshold": None,
            "coverage": 0.0,
            "held_from_look": None,
            "more_needed": max(o["more_needed"] for o in each.values()),
            "expected_coverage": None,
            "questions": each,
        }
    # a model that cannot label the task: the usual "run calibrate" would lead nowhere
    refused = None if data["calibrated"] else cannot_label(project, model)
    return data | {"summary": f"Not calibrated yet: {refused}." if refused else summary(data)}


ORDER = (
    "model",
    "calibrated",
    "threshold",
    "coverage",
    "held_from_look",
    "calibration_pairs",
    "more_needed",
    "expected_coverage",
)


def _standing(project: Project, cal: CalibrationState) -> dict:
    """What one calibration state leaves in force and asks for."""
    applied = in_force(project, cal)
    threshold = applied.threshold if applied else None
    coverage = float(applied.coverage or 0.0) if applied and threshold is not None else 0.0
    # certified by an earlier look, on an earlier version's labels: the last look passed none
    held = threshold is not None and cal.threshold is None
    more = max(0, int(cal.more_reviews_needed or 0))
    looked = cal.calibration_pairs is not None
    expected = cal.expected_coverage
    if more == 0 and expected is None:
        expected = coverage if looked else None
    return {
        "calibrated": looked,
        "threshold": threshold,
        "coverage": coverage,
        "held_from_look": applied.look if held and applied else None,
        "calibration_pairs": max(0, int(cal.calibration_pairs or 0)),
        "more_needed": more,
        "expected_coverage": None if expected is None else float(expected),
    }


def _reviews(n: int) -> str:
    return f"{n} blind review{'' if n == 1 else 's'}"


def _pct(x: float | None) -> str:
    return "unknown" if x is None else f"{x:.0%}"


def _question_line(name: str, o: dict) -> str:
    if not o["calibrated"]:
        return f"question {name}: not calibrated yet"
    if o["threshold"] is None:
        return (
            f"question {name} on {o['calibration_pairs']} pairs: no threshold certified yet, "
            "its answers go to people"
        )
    held = f", certified at look {o['held_from_look']}" if o.get("held_from_look") else ""
    return (
        f"question {name} on {o['calibration_pairs']} pairs: threshold {o['threshold']:.3f}"
        f"{held} auto-accepts {_pct(o['coverage'])} of its answers"
    )


def summary(o: dict) -> str:
    """The outlook in two or three sentences, the same wherever it is shown."""
    waiting = f"{_reviews(o['waiting'])} waiting in the calibration queue"
    if o.get("questions"):
        lines = "; ".join(_question_line(q, x) for q, x in o["questions"].items())
        head = f"Calibration per question: {lines}. {waiting}; "
        if not any(x["calibrated"] for x in o["questions"].values()):
            return f"Not calibrated yet: {waiting}; run `labelloop calibrate` once they are in."
        if o["more_needed"] == 0:
            return head + "no more blind reviews are expected to pay off."
        return head + (
            f"about {o['more_needed']} more blind reviews are expected to be needed; run "
            "`labelloop calibrate` then."
        )
    if not o["calibrated"]:
        return f"Not calibrated yet: {waiting}; run `labelloop calibrate` once they are in."
    now = (
        f"threshold {o['threshold']:.3f} auto-accepts {_pct(o['coverage'])} of items"
        if o["threshold"] is not None
        else "no threshold certified yet, nothing is auto-accepted"
    )
    if o.get("held_from_look"):
        now = (
            "the newest labels are not certified yet (the last look passed no threshold); "
            f"threshold {o['threshold']:.3f}, certified at look {o['held_from_look']}, still "
            f"auto-accepts {_pct(o['coverage'])} of items with the labels of the model "
            "version it tested"
        )
    head = f"Calibration on {o['calibration_pairs']} pairs: {now}. {waiting}; "
    if o["more_needed"] == 0:
        counted = o.get("counted_waiting")
        if o["waiting"] and counted is not None and counted < o["waiting"]:
            which = "none of them" if counted == 0 else f"{counted} of them"
            rest = "they" if counted == 0 else "the others"
            return head + (
                f"the last look counts {which} ({rest} no longer calibrate: the active queue "
                "has passed them, or they hold an older model's labels; answering them "
                "still labels them); no more blind reviews are expected to pay off."
            )
        if o["waiting"]:
            return head + (
                "they still count: answer them and run `labelloop calibrate`; no more "
                "beyond them are expected to pay off."
            )
        return head + "no more blind reviews are expected to pay off."
    more = f"about {o['more_needed']} more blind reviews are expected to be needed"
    if o["expected_coverage"] is None:
        text = head + f"{more}; run `labelloop calibrate` once they are in."
    else:
        text = head + (
            f"{more}, for an expected coverage of {_pct(o['expected_coverage'])} once they "
            "are in; run `labelloop calibrate` then."
        )
    if o["rate_fixed"] and o["waiting"] < o["more_needed"]:
        text += (
            f" calibration_rate = {o['calibration_rate']:g} in labelloop.toml keeps the queue "
            "from growing: raise it or remove it."
        )
    elif o["waiting"] < o["more_needed"] and o["calibration_rate"] >= MAX_AUTO_RATE:
        text += f" The calibration sample is at its cap of {MAX_AUTO_RATE:.0%} of items."
    return text
