"""Eval sets: frozen, versioned samples of reviewed items with their consensus labels as gold.

``labelloop evalset create NAME`` draws reviewed items whose reviewers reached a consensus
(majority vote; an adjudication wins; ties are left out), optionally stratified by gold
label, and freezes them with the review each gold label comes from. Creating NAME again
makes version 2, 3, ...; a version is never edited. Items of any frozen set, and
near-duplicates of them, are never shown to a model as examples (``labeler.label_context``).
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from labelloop.core.errors import LabelloopError
from labelloop.learn.evaluate import comparable, consensus_reviews, eval_kind
from labelloop.project import Project
from labelloop.store import EvalSet

_NAME = re.compile(r"^[\w.-]+$")


def draw(gold: dict[str, str], size: int | None, stratify: bool, seed: int) -> list[str]:
    """Item ids drawn from ``gold`` (item -> label key), sorted; all of them without ``size``.

    Stratified draws give each label its share of ``size`` (largest remainders first, ties
    by label), then draw uniformly within each label.
    """
    ids = sorted(gold)
    if size is None or size >= len(ids):
        return ids
    rng = np.random.default_rng(seed)
    if not stratify:
        return sorted(rng.choice(ids, size=size, replace=False).tolist())
    groups: dict[str, list[str]] = {}
    for i in ids:
        groups.setdefault(gold[i], []).append(i)
    keys = sorted(groups)
    exact = np.array([len(groups[k]) * size / len(ids) for k in keys])
    quota = np.floor(exact).astype(int)
    order = sorted(range(len(keys)), key=lambda j: (-(exact[j] - quota[j]), keys[j]))
    for j in order[: size - int(quota.sum())]:
        quota[j] += 1
    out: list[str] = []
    for k, q in zip(keys, quota, strict=True):
        out += rng.choice(groups[k], size=int(q), replace=False).tolist()
    return sorted(out)


def create(
    project: Project, name: str, size: int | None = None, stratify: bool = False, seed: int = 0
) -> EvalSet:
    """Freeze a new version of the eval set ``name`` from the reviewed items."""
    if not _NAME.match(name):
        raise LabelloopError(
            f"Invalid eval set name {name!r}: use letters, digits, '.', '-' or '_', e.g. 'holdout'"
        )
    if size is not None and size < 1:
        raise LabelloopError(f"--size must be at least 1, not {size}")
    guideline = project.guideline()
    store = project.store
    chosen = consensus_reviews(store.iter_reviews(), eval_kind(guideline))
    keys = {i: str(comparable(r.value, eval_kind(guideline))) for i, r in chosen.items()}
    if not keys:
        raise LabelloopError(
            "No reviewed item has a consensus label yet: review items in the console or "
            "import labeled items (`labelloop import FILE`), then create the eval set"
        )
    if size is not None and size > len(keys):
        raise LabelloopError(
            f"Only {len(keys)} reviewed items have a consensus label: ask for --size "
            f"{len(keys)} or fewer, or review more items first"
        )
    picked = draw(keys, size, stratify, seed)
    params = {
        "size": size,
        "stratify": stratify,
        "seed": seed,
        "eligible": len(keys),
        "labels": dict(sorted(Counter(keys[i] for i in picked).items())),
    }
    gold = [(i, chosen[i].id, chosen[i].value) for i in picked]
    return store.create_eval_set(name, guideline.version, params, gold)


def get(project: Project, name: str, version: int | None = None) -> EvalSet:
    """The named set (its latest version, or ``version``), or an error listing the sets."""
    found = project.store.eval_set(name, version)
    if found is not None:
        return found
    known = sorted({s["name"] for s in project.store.eval_sets()})
    listed = ", ".join(known) if known else "none yet (labelloop evalset create NAME)"
    which = f"{name!r} version {version}" if version is not None else repr(name)
    raise LabelloopError(f"No eval set {which}: eval sets are {listed}")


def listing(project: Project) -> list[dict]:
    """Every version of every eval set, with the number of runs made on it."""
    runs = Counter(r.eval_set_id for r in project.store.eval_runs())
    return [{**s, "runs": runs.get(s["id"], 0)} for s in project.store.eval_sets()]


def show(project: Project, name: str, version: int | None = None) -> dict:
    """One set version: how it was drawn, its gold label counts and the runs made on it."""
    es = get(project, name, version)
    runs = project.store.eval_runs(set_ids=[es.id])
    return {
        "id": es.id,
        "name": es.name,
        "version": es.version,
        "items": len(es.gold),
        "guideline_version": es.guideline_version,
        "created_at": es.created_at.isoformat(),
        **es.params,
        "runs": [r.model_dump(mode="json") for r in runs],
    }
