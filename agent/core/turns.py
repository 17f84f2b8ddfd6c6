"""Which turns of a conversation a ``unit: turn`` guideline labels (``turn_role``).

``user`` (the default) labels the user's turns, ``assistant`` the assistant's replies, and
``any`` every turn a person or the assistant spoke: never a system prompt or a tool's result.
One rule for the importer, the prompts, the embedded model, the console and the checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from labelloop.core.types import Message

TurnRole = Literal["user", "assistant", "any"]
TURN_ROLES: tuple[str, ...] = ("user", "assistant", "any")

#: role names a user's turn goes by (ShareGPT's "human" is read as "user" on import)
USER_ROLES = frozenset({"user", "human", "customer"})
#: role names the assistant's turns go by
ASSISTANT_ROLES = frozenset({"assistant", "bot", "agent", "model", "gpt", "chatgpt"})
#: roles that are never a turn to label: instructions and tools' results
NOT_TURNS = frozenset({"system", "developer", "tool", "function", "ipython"})


def is_labeled(role: str, turn_role: str = "user") -> bool:
    """Whether a message with ``role`` is one a ``turn_role`` guideline labels."""
    r = role.lower()
    if turn_role == "user":
        return r in USER_ROLES
    if turn_role == "assistant":
        return r in ASSISTANT_ROLES
    return r not in NOT_TURNS


def labeled_turns(messages: Sequence[Message] | None, turn_role: str = "user") -> list[int]:
    """Indices of the messages a ``unit: turn`` guideline with ``turn_role`` labels."""
    return [i for i, m in enumerate(messages or ()) if is_labeled(m.role, turn_role)]


def turn_noun(turn_role: str = "user") -> str:
    """How prompts, errors and the console name a labeled turn: "user turn", ..."""
    return {"user": "user turn", "assistant": "assistant turn"}.get(turn_role, "turn")


def article(noun: str) -> str:
    """The noun with its indefinite article: "a user turn", "an assistant turn"."""
    return ("an " if noun.startswith("a") else "a ") + noun


def role_names(turn_role: str = "user") -> str:
    """The roles a ``turn_role`` labels, for error messages."""
    if turn_role == "any":
        return "any role but " + ", ".join(sorted(NOT_TURNS))
    roles = USER_ROLES if turn_role == "user" else ASSISTANT_ROLES
    return ", ".join(sorted(roles))
