"""Small domain objects shared by tests."""

from __future__ import annotations

from pathlib import Path

from agent.types import Guideline, LabelDef

IMPORT_FIXTURES = Path(__file__).parent / "fixtures" / "import"
INTENTS = ("card_arrival", "lost_or_stolen_card", "refund")


def guideline(kind: str = "single", unit: str = "text", labels=INTENTS) -> Guideline:
    """A guideline with bare labels, for tests that need a label set and a kind."""
    return Guideline(
        task="support-intent",
        labels=tuple(LabelDef(name=n) for n in labels),
        kind=kind,
        unit=unit,
        version="v1",
    )
