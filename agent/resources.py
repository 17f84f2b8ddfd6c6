"""Files shipped with labelloop: prompts, guidelines and the demo sample.

In a wheel, ``prompts/`` and ``guidelines/`` are bundled under ``agent/_bundled``; in a
source checkout they sit at the repository root.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=8)
def _shipped(name: str) -> Path:
    bundled = PACKAGE / "_bundled" / name
    return bundled if bundled.is_dir() else PACKAGE.parent / name


def guidelines_dir() -> Path:
    return _shipped("guidelines")


def prompts_dir() -> Path:
    return _shipped("prompts")


def demo_sample() -> Path:
    return PACKAGE / "data" / "demo" / "support-intent.jsonl"


def demo_guideline() -> Path:
    return guidelines_dir() / "support-intent.md"
