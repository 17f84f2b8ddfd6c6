"""Who may see the model's answer on an item, and who may decide it outside the review
stream: pure rules over the item's state, applied by the review service everywhere an item
is shown or changed (item browser, item detail, editor, adjudication).

Blind stays blind: reviewers never see the model's answer (suggestion, confidence,
rationale, a model-made final label) on items whose independence a measurement needs:
calibration and audit items, gold items, active items in the blind share, and anything at
all for reviewers set to see every item blind. Nor do they see gold answers, or the answers
of other people on an item still waiting for answers (overlap, adjudication). Admins see
everything.

Decisions outside the stream: nobody decides an item another reviewer holds; reviewers
change only items that wait for nobody (decided, auto-accepted or not yet labeled): items
in a queue come to them in the review stream, adjudication is for admins, and gold items
are answered only in the stream, blind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from labelloop.core.types import Queue, Route

#: routes whose items are always reviewed blind
BLIND_ROUTES = frozenset({Route.CALIBRATION, Route.AUDIT})
#: routes whose items wait for people in a queue
WAITING_ROUTES = frozenset(
    {Route.CALIBRATION, Route.AUDIT, Route.ACTIVE, Route.FAILED, Route.ADJUDICATION}
)


def share_hit(key: str, share: float, salt: str) -> bool:
    """Whether ``key`` falls in a ``share`` of all keys: stable across processes and runs
    (the overlap share, the blind share)."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@dataclass(frozen=True)
class ItemState:
    """What the rules read about one item."""

    route: str
    gold: bool = False
    #: the reviewer holding the item's lease (a gold lease holds nothing)
    holder: str | None = None
    #: an active item drawn into the blind share (shown without the suggestion)
    blind_share: bool = False


@dataclass(frozen=True)
class Viewer:
    """Who is asking: the account, its role, and whether it sees every item blind."""

    name: str
    role: str
    blind: bool = False

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def shows_model(viewer: Viewer, state: ItemState) -> bool:
    """Whether ``viewer`` may see the model's answer on the item."""
    if viewer.admin:
        return True
    if viewer.blind:
        return state.route == Route.REVIEWED
    if state.gold or state.route in BLIND_ROUTES:
        return False
    return not (state.blind_share and state.route in (Route.ACTIVE, Route.FAILED))


def shows_others(viewer: Viewer, state: ItemState) -> bool:
    """Whether ``viewer`` may see other people's answers and the item's gold answer."""
    return viewer.admin or (state.route not in WAITING_ROUTES and not state.gold)


def refuses_change(viewer: Viewer, state: ItemState) -> str | None:
    """Why ``viewer`` may not decide the item outside the stream (None: they may)."""
    if state.holder is not None and state.holder != viewer.name:
        return f"{state.holder} is reviewing it now: wait until they decide or skip it"
    if viewer.admin:
        return None
    if state.gold:
        return "gold items are answered in the review stream only"
    if state.route == Route.ADJUDICATION:
        return "it waits for an admin to adjudicate it"
    if state.route in WAITING_ROUTES:
        queue = Queue.ACTIVE if state.route == Route.FAILED else state.route
        return f"it waits in the {queue} queue: it comes to reviewers in the Review tab"
    return None
