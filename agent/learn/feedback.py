"""``labelloop guidelines suggest``: where the guideline leaves people and the model unsure.

Lists the label pairs most often confused between the routing model and the consensus of
reviewers, and between reviewers on items several of them labeled, each with example
items and the reviewers' comments on them. When an LLM is configured (``model`` in
labelloop.toml is not ``local``), it is asked, once per pair, to propose a clarification
of the guideline text for that pair; with the local model there are no proposals.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from itertools import combinations, product
from typing import TYPE_CHECKING

from labelloop.core.errors import LabelloopError
from labelloop.core.types import Guideline, LabelValue
from labelloop.learn.evaluate import consensus_reviews, decisions, eval_kind
from labelloop.project import Project
from labelloop.route.state import routing_model

if TYPE_CHECKING:
    from labelloop.store import Store

EXAMPLES_PER_PAIR = 3
PROPOSAL_SCHEMA = {
    "type": "object",
    "properties": {"clarification": {"type": "string"}},
    "required": ["clarification"],
    "additionalProperties": False,
}


def confused(a: LabelValue | None, b: LabelValue | None) -> list[tuple[str, str]]:
    """The label pairs two values disagree on (sorted pairs; labels only one of them used)."""
    if a is None or b is None:
        return []
    only_a, only_b = set(a.names()) - set(b.names()), set(b.names()) - set(a.names())
    return sorted({tuple(sorted(p)) for p in product(only_a, only_b)})


def top_pairs(disagreements: Iterable[tuple[str, dict[str, LabelValue]]], top: int) -> list:
    """The ``top`` most confused pairs with the items behind them, from (item, {who: value})."""
    counts: Counter = Counter()
    items: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for item, said in disagreements:
        seen = set()
        for (_, va), (_, vb) in combinations(said.items(), 2):
            seen.update(confused(va, vb))
        for pair in seen:
            counts[pair] += 1
            items.setdefault(pair, []).append((item, said))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [(pair, n, items[pair]) for pair, n in ranked]


def suggest(project: Project, top: int = 5) -> dict:
    """The most confused label pairs, model vs people and people vs people, with examples,
    comments and (with an LLM configured) a proposed clarification for each."""
    store, g = project.store, project.guideline()
    reviews = list(store.iter_reviews())
    by_reviewer, _ = decisions(reviews, eval_kind(g))
    gold = consensus_reviews(reviews, eval_kind(g))
    model = routing_model(project)
    suggested = store.latest_suggestions(model=model)
    model_side = (
        (i, {model: suggested[i].value, "people": r.value})
        for i, r in gold.items()
        if i in suggested and suggested[i].status == "ok"
    )
    human_side = (
        (i, {who: r.value for who, r in votes.items()})
        for i, votes in by_reviewer.items()
        if len(votes) >= 2
    )
    comments = _comments(reviews)
    out = {
        "model": model,
        "model_vs_humans": _describe(store, top_pairs(model_side, top), comments),
        "humans": _describe(store, top_pairs(human_side, top), comments),
    }
    llm = project.model()
    if llm == "local":
        out["note"] = (
            "No LLM is configured (model = 'local'): no clarifications proposed. Set `model` "
            "in labelloop.toml to have an LLM propose them."
        )
        return out
    settings = project.config.llm
    for pair in out["model_vs_humans"] + out["humans"]:
        pair["proposal"] = propose(llm, g, pair, settings.api_base, settings.timeout)
    out["note"] = f"Clarifications proposed by {llm}: review them before editing the guideline."
    return out


def _comments(reviews) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in reviews:
        if r.comment and r.comment.strip():
            out.setdefault(r.item_id, []).append(f"{r.reviewer}: {r.comment.strip()}")
    return out


def _describe(store: Store, ranked: list, comments: dict[str, list[str]]) -> list[dict]:
    out = []
    for (a, b), n, found in ranked:
        shown = found[:EXAMPLES_PER_PAIR]
        items = store.get_items([i for i, _ in shown])
        examples = [
            {
                "id": i,
                "text": items[i].render_plain() if i in items else "",
                "labels": {who: v.short() for who, v in said.items() if v is not None},
                "comments": comments.get(i, []),
            }
            for i, said in shown
        ]
        out.append({"a": a, "b": b, "count": n, "examples": examples})
    return out


def proposal_messages(g: Guideline, pair: dict) -> list[dict]:
    """The request for one pair: both labels' guideline text and the confused examples."""
    sections = []
    for name in (pair["a"], pair["b"]):
        label = g.label(name) if name in g.label_names else None
        text = label.definition if label and label.definition else "(no definition)"
        sections.append(f"### {name}\n{text}")
    examples = "\n".join(
        f"- {json.dumps(ex['text'], ensure_ascii=False)} labeled "
        + ", ".join(f"{who}: {v}" for who, v in ex["labels"].items())
        + "".join(f"\n  comment: {c}" for c in ex["comments"])
        for ex in pair["examples"]
    )
    return [
        {
            "role": "system",
            "content": "You help annotation teams write clear labeling guidelines. Answer "
            'with JSON: {"clarification": "<text>"}.',
        },
        {
            "role": "user",
            "content": f"Task: {g.task}. Annotators confuse the labels {pair['a']} and "
            f"{pair['b']} ({pair['count']} items). The guideline says:\n\n"
            + "\n\n".join(sections)
            + f"\n\nItems they disagreed on:\n{examples}\n\nPropose a short clarification "
            "to add to the guideline that tells the two labels apart.",
        },
    ]


def propose(
    model: str, g: Guideline, pair: dict, api_base: str | None, timeout: float = 60.0
) -> str:
    """One call through litellm: the proposed clarification text."""
    from labelloop.label.providers.transport import check_credentials, litellm, short

    check_credentials(model, api_base)
    request = {
        "model": model,
        "messages": proposal_messages(g, pair),
        "temperature": 0.0,
        "timeout": timeout,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "clarification", "schema": PROPOSAL_SCHEMA},
        },
    }
    if api_base:
        request["api_base"] = api_base
        if litellm.validate_environment(model).get("missing_keys"):
            request["api_key"] = "no-key"  # local servers ignore it; litellm insists on one
    try:
        response = litellm.completion(**request)
    except Exception as exc:
        raise LabelloopError(f"{model} could not propose a clarification: {short(exc)}") from exc
    content = response.choices[0].message.content or ""
    try:
        return str(json.loads(content)["clarification"]).strip()
    except (ValueError, KeyError, TypeError):
        return content.strip()
