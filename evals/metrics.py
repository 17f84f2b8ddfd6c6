"""Agreement metrics: pure functions over plain data."""

from __future__ import annotations

from collections.abc import Sequence


def accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float | None:
    """Share of positions where the two sequences agree; None when empty."""
    if len(predicted) != len(gold):
        raise ValueError(f"length mismatch: {len(predicted)} predictions, {len(gold)} gold")
    if not gold:
        return None
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
