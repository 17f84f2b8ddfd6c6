"""Small domain objects shared by tests."""

from __future__ import annotations

from labelloop.core.types import Guideline, LabelDef
from tests.support.paths import FIXTURES

IMPORT_FIXTURES = FIXTURES / "import"
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
