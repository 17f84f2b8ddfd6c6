"""Helpers for the console's judging tests: guidelines of each judging kind, items with
replies written by named models, and the order a reviewer sees them in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from labelloop.core.types import Item, Message, Reply
from labelloop.review.judging import shown_order

PAIRWISE = """---
task: reply-preference
kind: pairwise
allow_tie: true
---
# Which reply is better?

Pick the reply that follows the instruction more faithfully.

## Criteria

A reply that does what was asked beats one that says more.
"""

RATING = """---
task: reply-quality
kind: rating
labels: [1, 2, 3, 4, 5]
---
# Rate each reply

Rate how well each reply follows the instruction: 1 is useless, 5 is exactly right.
"""

RANKING = """---
task: reply-order
kind: ranking
---
# Rank the replies

Order the replies from best to worst at following the instruction.
"""

#: the models that wrote the replies: never on a page a person sees
MODELS = ("gpt-sentinel-model-7", "llama-sentinel-model-9", "mistral-sentinel-model-3")


def judged(item_id: str, prompt: str, replies: Mapping[str, str]) -> Item:
    """A conversation of one user turn and its replies (id -> text), each reply written by
    one of ``MODELS`` in turn."""
    return Item(
        id=item_id,
        messages=(Message(role="user", content=prompt),),
        replies=tuple(
            Reply(id=rid, content=text, model=MODELS[n % len(MODELS)])
            for n, (rid, text) in enumerate(replies.items())
        ),
    )


def reply_texts(item: Item) -> dict[str, str]:
    return {r.id: r.content or "" for r in item.replies or ()}


def seen(item: Item, reviewer: str) -> tuple[str, ...]:
    """The reply ids of ``item`` in the order ``reviewer`` sees them."""
    return shown_order(item.id, reviewer, item.reply_ids)


def reviewers_seeing(item: Item, order: Sequence[str], names: Sequence[str]) -> list[str]:
    """The reviewers among ``names`` who see ``item``'s replies in ``order``."""
    return [n for n in names if seen(item, n) == tuple(order)]


class Accounts:
    """The console's accounts for handler tests: a request is the user's name."""

    def __init__(self, project):
        self.store = project.store

    def user(self, request):
        return self.store.get_user(request) if isinstance(request, str) else None
