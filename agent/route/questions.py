"""One question of a guideline that asks several, as calibration and routing see it.

A model's suggestion for such a guideline holds every answer (``value.answers``), each
question's signals as ``"{question}.{signal}"``, its confidence as ``"{question}.confidence"``
and, once calibrated, its calibrated probability as ``"{question}.calibrated"``. The
suggestion of one question is that answer with those signals, the prefix removed: the
calibrator and the routing rules then work on it exactly as on a one-question task. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from labelloop.core.questions import answer_to
from labelloop.core.types import Suggestion

#: per-question keys that are not signals of the answer
_OWN = ("confidence", "calibrated")
#: item-level signals every question shares
SHARED = ("injection",)


def calibrated_key(question: str) -> str:
    """Where a suggestion keeps its calibrated probability for one question."""
    return f"{question}.calibrated"


def question_signals(signals: Mapping[str, object], question: str) -> dict[str, object]:
    """The signals of one question's answer, without their ``"{question}."`` prefix."""
    prefix = f"{question}."
    out = {
        k[len(prefix) :]: v
        for k, v in signals.items()
        if k.startswith(prefix) and k[len(prefix) :] not in _OWN
    }
    out.update({k: signals[k] for k in SHARED if k in signals})
    return out


def question_suggestion(s: Suggestion, question: str) -> Suggestion:
    """The suggestion of one question: its answer, confidence, calibrated probability and
    signals (a suggestion that does not answer it has no value)."""
    value = answer_to(s.value, question)
    confidence = s.signals.get(f"{question}.confidence")
    calibrated = s.signals.get(calibrated_key(question))
    return s.model_copy(
        update={
            "value": value,
            "confidence": float(confidence) if isinstance(confidence, int | float) else None,
            "calibrated": float(calibrated) if isinstance(calibrated, int | float) else None,
            "signals": question_signals(s.signals, question),
        }
    )
