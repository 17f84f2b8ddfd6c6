"""Files shipped with labelloop: prompts, guidelines, the demo samples and word lists.

In a wheel, ``prompts/`` and ``guidelines/`` are bundled under ``labelloop/_bundled``; in a
source checkout (and an editable install) they sit at the repository root.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


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


def entities_sample() -> Path:
    """The span demo's sample: WNUT-17 dev sentences with their gold spans."""
    return PACKAGE / "data" / "demo" / "entities.jsonl"


def entities_guideline() -> Path:
    return guidelines_dir() / "wnut17-entities.md"


def lexicon_file(name: str) -> Path:
    """One of the word lists the span labeler reads (``labelloop.label.lexicons``)."""
    return PACKAGE / "data" / "lexicons" / name


def prompt_template(name: str, project_dir: Path | None = None) -> Path:
    """A prompt template by version name (``classify.v2``) or file name or path: the
    project's own ``prompts/`` folder first, then the shipped templates."""
    from labelloop.core.errors import ConfigError

    given = Path(name)
    if given.suffix == ".jinja" and given.is_file():
        return given.resolve()
    file = given.name if given.suffix == ".jinja" else f"{given.name}.jinja"
    folders = ([project_dir / "prompts"] if project_dir is not None else []) + [prompts_dir()]
    for folder in folders:
        if (folder / file).is_file():
            return (folder / file).resolve()
    known = sorted({p.name.removesuffix(".jinja") for d in folders for p in d.glob("*.jinja")})
    where = " or ".join(str(d) for d in folders)
    raise ConfigError(
        f"No prompt template {name!r} in {where}: available versions are {', '.join(known)}"
    )
