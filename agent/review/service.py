"""The review service: what the console asks of the store, as plain Python (no Gradio here).

One :class:`ReviewService` per project and server process. A reviewer is served from the
calibration, audit and active queues (``[review] queues``, in that order), each item leased
to them for ``lease_seconds``; one more item is leased and prepared ahead (the prefetch), so
the view that follows a decision is ready when the decision is recorded. A share of items
(``[review] overlap``) goes to ``overlap_reviewers`` different people in turn (one holder at
a time); when their answers differ the item waits in the ``adjudication`` queue for an admin.

Calibration, audit and gold items are shown blind, as is a ``blind_share`` of active items
and everything for reviewers whose blind setting is on; the review row records ``blind`` so
the anchoring of reviewers on the model can be measured. Gold items (known answers, see
:meth:`ReviewService.add_gold`) are mixed in at ``gold_rate``.

Every decision is one append-only review row. Roles are checked here too: admin-only
methods take the acting user and raise :class:`labelloop.core.errors.AccessDenied` for anyone
else.

This module is the review stream (leases, decisions, undo, the prefetch); the item browser's
methods are in ``labelloop.review.editing`` and an admin's in ``labelloop.review.admin``, both
mixed into :class:`ReviewService`.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from labelloop.core.context import context_of
from labelloop.core.errors import AccessDenied, LabelloopError, ReviewConflict
from labelloop.core.questions import answer_to
from labelloop.core.types import (
    QUEUE_ROUTES,
    QUEUES,
    Guideline,
    LabelValue,
    Queue,
    Review,
    Suggestion,
    utcnow,
)
from labelloop.review import questions
from labelloop.review.access import (
    share_hit,
)
from labelloop.review.admin import BLIND_STATE, AdminActions
from labelloop.review.editing import Editing
from labelloop.review.judging import rationale_shown, shown_order
from labelloop.review.rules import (
    check_complete,
    check_reason,
    cited_section,
    queue_route,
    route_after,
    to_value,
)
from labelloop.review.similar import SimilarIndex
from labelloop.review.views import (
    ACTIONS,
    ADJUDICATION_QUEUE,
    BLIND_QUEUES,
    BROWSER_QUEUE,
    GOLD_QUEUE,
    REJECT_REASONS,
    Action,
    AdjudicationView,
    Answer,
    BrowseFilters,
    BrowsePage,
    BrowseRow,
    BulkPlan,
    BulkResult,
    GuidelineSection,
    ItemDetail,
    ItemView,
    Outcome,
    SimilarExample,
    ValueInput,
)
from labelloop.store.review_queue import Lease, RouteChange, browse_label

__all__ = [
    "ACTIONS",
    "REJECT_REASONS",
    "AdjudicationView",
    "Answer",
    "BrowseFilters",
    "BrowsePage",
    "BrowseRow",
    "BulkPlan",
    "BulkResult",
    "GuidelineSection",
    "ItemDetail",
    "ItemView",
    "Outcome",
    "ReviewService",
    "SimilarExample",
    "check_complete",
    "cited_section",
    "route_after",
    "share_hit",
]

#: seconds a server process keeps an account's role and the blind setting before reading
#: them again (a disabled account is refused within this time)
SETTINGS_TTL = 5.0


# --- the service ----------------------------------------------------------------------------


@dataclass
class _Slot:
    """One reviewer's current view and the prefetched next one."""

    current: ItemView | None = None
    prefetched: ItemView | None = None
    loaded: bool = False
    #: a decided item opened in the editor (browser, adjudication); shown before the stream
    editing: ItemView | None = None


class ReviewService(Editing, AdminActions):
    """The review console's backend over one project; thread-safe, one per server process."""

    def __init__(
        self, project, *, seed: int | None = None, background_prefetch: bool = True
    ) -> None:
        """Serve ``project`` (an ``labelloop.project.Project``); ``seed`` fixes the gold draws;
        ``background_prefetch=False`` prepares the item after next before ``decide`` returns."""
        self.project = project
        self.store = project.store
        self.config = project.config.review
        self.similar = SimilarIndex(self.store)
        self._executor = (
            ThreadPoolExecutor(max_workers=4, thread_name_prefix="prefetch")
            if background_prefetch
            else None
        )
        self._roles: dict[str, tuple[float, object]] = {}
        self._rng = random.Random(self.config.seed if seed is None else seed)
        self._slots: dict[str, _Slot] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._guideline: tuple[float, Guideline] | None = None
        self._blind: tuple[float, list[str]] | None = None
        #: each admin's last bulk accept preview, waiting for confirmation
        self._plans: dict[str, BulkPlan] = {}

    def close(self) -> None:
        """Finish pending prefetches and stop the background threads."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.similar.close()

    # --- users ---------------------------------------------------------------------------

    def user(self, name: str | None):
        """The enabled account ``name``; ``AccessDenied`` for anyone else."""
        now = time.monotonic()
        held = self._roles.get(name or "")
        if held is not None and now - held[0] <= SETTINGS_TTL:
            return held[1]
        row = self.store.get_user(name) if name else None
        if row is not None and not row.disabled:
            self._roles[name] = (now, row)
        if row is None or row.disabled:
            raise AccessDenied(f"Unknown or disabled user {name!r}: sign in with a console account")
        return row

    def require_admin(self, name: str | None):
        """The enabled admin account ``name``; ``AccessDenied`` for reviewers and strangers."""
        row = self.user(name)
        if row.role != "admin":
            raise AccessDenied(f"{name!r} is not an admin: ask an admin (`labelloop users add`)")
        return row

    def guideline(self) -> Guideline:
        """The project's guideline, parsed again only when its file changes."""
        mtime = self.project.guideline_path.stat().st_mtime
        if self._guideline is None or self._guideline[0] != mtime:
            self._guideline = (mtime, self.project.guideline())
        return self._guideline[1]

    # --- the review stream ---------------------------------------------------------------

    def next_item(self, reviewer: str) -> ItemView | None:
        """The reviewer's current item (leasing one if needed); None when nothing waits."""
        role = self.user(reviewer).role
        with self._lock(reviewer):
            slot = self._slot(reviewer, role)
            if slot.editing is not None:
                return slot.editing
            if slot.current is None:
                slot.current, slot.prefetched = slot.prefetched, None
                if slot.current is None:
                    slot.current = self._lease_view(reviewer, role)
            if slot.current is not None and slot.prefetched is None:
                slot.prefetched = self._lease_view(reviewer, role)
            return slot.current

    def decide(
        self,
        reviewer: str,
        item_id: str,
        action: Action,
        value: ValueInput = None,
        reason: str | None = None,
        comment: str | None = None,
        duration_ms: int | None = None,
    ) -> Outcome:
        """Record accept / fix (``value``) / reject (``reason``) / skip on a leased item, or
        on the decided item open in the editor (``edit``)."""
        role = self.user(reviewer).role
        check_reason(action, reason, comment)
        edited = self._end_edit(reviewer, item_id)
        if edited is not None:
            return self._decide_edit(edited, action, value, reason, comment)
        with self._lock(reviewer):
            slot = self._slot(reviewer, role)
            view = next(
                (v for v in (slot.current, slot.prefetched) if v and v.item.id == item_id), None
            )
            if view is None:
                raise ReviewConflict(
                    f"Item {item_id!r} is not leased to {reviewer!r}; loading your next item"
                )
            if view.question is not None and action in ("accept", "fix"):
                got = self._answer(view, action, value, duration_ms)
                if isinstance(got, ItemView):  # the item's next question: nothing stored yet
                    if slot.current is view:
                        slot.current = got
                    else:
                        slot.prefetched = got
                    return Outcome(review=None, next=got)
                review = got.model_copy(update={"comment": comment})
            else:
                review = self._review(view, action, value, reason, comment, duration_ms)
            queue = GOLD_QUEUE if view.gold else view.queue
            earlier = self.store.answers(item_id) if view.overlap else []
            change = route_after(
                queue, review, earlier, view.overlap, self.config.overlap_reviewers
            )
            nxt = slot.prefetched if slot.prefetched is not view else slot.current
            until = review.created_at + timedelta(seconds=self.config.lease_seconds)
            extend = (nxt.item.id, until) if nxt is not None and nxt is not view else None
            try:
                stored, extended = self.store.record_decision(
                    review, change, extend=extend, expect_route=view.route
                )
            except ReviewConflict:
                slot.loaded = False  # what this process held is stale: reload from the store
                raise
            slot.current = nxt if extended else None
            slot.prefetched = None
            if slot.current is None:
                slot.current = self._lease_view(reviewer, role)
            if slot.current is not None:
                self._prefetch(reviewer, role)
            return Outcome(review=stored, next=slot.current)

    def _prefetch(self, reviewer: str, role: str) -> None:
        """Lease and prepare the reviewer's item after next: in the background, so the
        decision returns at once; the next call for this reviewer waits for it (the lock)."""

        def fill() -> None:
            slot = self._slots.get(reviewer)
            if slot is not None and slot.current is not None and slot.prefetched is None:
                slot.prefetched = self._lease_view(reviewer, role)

        def fill_locked() -> None:
            with self._lock(reviewer):
                fill()

        if self._executor is None:
            fill()  # the caller holds the reviewer's lock already
        else:
            self._executor.submit(fill_locked)

    def undo(self, reviewer: str) -> ItemView | None:
        """Supersede the reviewer's last decision and lease that item back to them."""
        role = self.user(reviewer).role
        with self._lock(reviewer):
            slot = self._slot(reviewer, role)
            if slot.editing is not None:  # undo in the editor leaves it, and undoes nothing
                slot.editing = None
                raise ReviewConflict(
                    "Left the editor without saving; Backspace again undoes your last decision"
                )
            held = slot.current
            if held is not None and held.answered:  # back to the question answered last
                back = held.answered[-1][0]
                slot.current = self._asking(replace(held, answered=held.answered[:-1]), back)
                return slot.current
            last = self.store.last_decision(reviewer, [*QUEUES, GOLD_QUEUE])
            if last is None:
                raise ReviewConflict("Nothing to undo: you have no decision in the queues yet")
            now = datetime.now(UTC)
            ctx = self.store.lease_context(last.item_id)
            undo = Review(
                item_id=last.item_id,
                reviewer=reviewer,
                action="undo",
                queue=last.queue,
                blind=last.blind,
                suggestion_id=last.suggestion_id,
                supersedes=last.id,
                created_at=now,
            )
            change = RouteChange(None)
            if last.action != "skip" and last.queue != GOLD_QUEUE:
                sugg = ctx.suggestion if ctx else None
                label = browse_label(sugg.value) if sugg is not None else None
                change = RouteChange(queue_route(last.queue, sugg), f"undo by {reviewer}", label)
            # a skipped item goes back only while it still waits in that queue
            waiting = QUEUE_ROUTES.get(last.queue) if last.action == "skip" else None
            self.store.record_undo(undo, change, self.config.lease_seconds, now, waiting)
            if slot.prefetched is not None:
                self.store.release_lease(reviewer, slot.prefetched.item.id)
            until = now + timedelta(seconds=self.config.lease_seconds)
            lease = Lease(last.item_id, last.queue, until)
            slot.prefetched, slot.current = slot.current, self._view(reviewer, lease)
            return slot.current

    def release(self, reviewer: str) -> None:
        """Give back every lease the reviewer holds (logout)."""
        with self._lock(reviewer):
            self.store.release_lease(reviewer)
            self._slots.pop(reviewer, None)

    # --- gold ------------------------------------------------------------------------------

    # --- adjudication ----------------------------------------------------------------------

    # --- item browser ----------------------------------------------------------------------

    # --- dashboard -------------------------------------------------------------------------

    # --- internals -------------------------------------------------------------------------

    def _lock(self, reviewer: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(reviewer, threading.Lock())

    def _slot(self, reviewer: str, role: str) -> _Slot:
        """The reviewer's slot, reloaded from the leases in the store when not held here."""
        slot = self._slots.setdefault(reviewer, _Slot())
        if not slot.loaded:
            leases = self.store.leases_of(reviewer, utcnow())
            views = [v for v in (self._view(reviewer, lease) for lease in leases) if v is not None]
            slot.current = views[0] if views else None
            slot.prefetched = views[1] if len(views) > 1 else None
            slot.loaded = True
        elif slot.current is not None and slot.current.leased_until <= utcnow():
            self._slots.pop(reviewer)
            return self._slot(reviewer, role)
        return slot

    def _queues(self, role: str) -> list[str]:
        queues = self.config.queues
        return [q for q in queues if q != ADJUDICATION_QUEUE or role == "admin"]

    def _lease_view(self, reviewer: str, role: str) -> ItemView | None:
        gold = self.config.gold_rate > 0 and self._rng.random() < self.config.gold_rate
        got = self.store.lease_next(
            reviewer, self._queues(role), self.config.lease_seconds, utcnow(), gold_first=gold
        )
        return self._view(reviewer, *got) if got is not None else None

    def _view(self, reviewer: str, lease: Lease, ctx=None) -> ItemView | None:
        ctx = ctx or self.store.lease_context(lease.item_id)
        if ctx is None:
            return None
        gold = lease.queue == GOLD_QUEUE
        queue = Queue.ACTIVE if gold else lease.queue
        overlap = queue in (Queue.CALIBRATION, Queue.AUDIT, Queue.ACTIVE) and not gold
        overlap = overlap and share_hit(ctx.item.id, self.config.overlap, "overlap")
        blind = (
            gold
            or queue in BLIND_QUEUES
            or reviewer in self._blind_reviewers()
            or (queue == Queue.ACTIVE and self._in_blind_share(ctx.item.id))
        )
        view = self._view_of(reviewer, ctx, queue, blind=blind, gold=gold, overlap=overlap)
        return replace(view, leased_until=lease.expires_at, route=ctx.route)

    def _view_of(self, reviewer, ctx, queue, *, blind, gold, overlap, similar=True) -> ItemView:
        guideline = self.guideline()
        sugg = None if blind else ctx.suggestion
        # labeled neighbours would suggest a label: a blind item is shown with none
        similar = similar and not blind
        similar = self.similar.lookup(ctx.item, self.config.similar_k) if similar else []
        order = shown_order(ctx.item.id, reviewer, ctx.item.reply_ids) if guideline.judges else ()
        rationale = sugg.rationale if sugg is not None else None
        if rationale and guideline.judges:  # a judge reads the replies in the item's own order
            rationale = rationale_shown(rationale, ctx.item, order)
        view = ItemView(
            item=ctx.item,
            queue=queue,
            reviewer=reviewer,
            suggestion=sugg,
            confidence=_confidence(sugg),
            rationale=rationale,
            section=cited_section(guideline, sugg),
            similar=tuple(
                SimilarExample(ex.item, ex.value, ex.reviewer or "", sim) for ex, sim in similar
            ),
            blind=blind,
            gold=gold,
            overlap=overlap,
            suggestion_id=ctx.suggestion.id if ctx.suggestion is not None else None,
            labels=tuple(guideline.label_names),
            kind=guideline.kind,
            unit=guideline.unit,
            turn_role=guideline.turn_role,
            leased_until=utcnow(),
            order=order,
            context=context_of(ctx.item, guideline.context),
        )
        if guideline.asks_questions:
            editing = queue in (BROWSER_QUEUE, ADJUDICATION_QUEUE)  # every answer may change
            accepted = () if blind or editing else ctx.accepted
            view = replace(view, questions=questions.to_ask(guideline, accepted, blind), whole=sugg)
            view = self._asking(view, view.questions[0])
        return view

    def _asking(self, view: ItemView, question: str) -> ItemView:
        """``view`` asking ``question``: that question's kind, labels and suggestion."""
        guideline = self.guideline()
        one = guideline.for_question(question)
        sugg = questions.for_question(view.whole, question, guideline.question_names)
        order = shown_order(view.item.id, view.reviewer, view.item.reply_ids) if one.judges else ()
        rationale = sugg.rationale if sugg is not None else None
        if rationale and one.judges:
            rationale = rationale_shown(rationale, view.item, order)
        start = view.start
        if view.whole_start is not None:
            start = answer_to(view.whole_start, question)
        return replace(
            view,
            question=question,
            start=start,
            suggestion=sugg,
            confidence=_confidence(sugg),
            rationale=rationale,
            section=cited_section(one, sugg),
            labels=tuple(one.label_names),
            kind=one.kind,
            unit=one.unit,
            turn_role=one.turn_role,
            order=order,
        )

    def guideline_for(self, reviewer: str, item_id: str) -> Guideline:
        """The guideline an answer on the reviewer's view of ``item_id`` is read with: the
        question it asks, or the project's."""
        guideline = self.guideline()
        if not guideline.asks_questions:
            return guideline
        slot = self._slots.get(reviewer)
        views = (slot.editing, slot.current, slot.prefetched) if slot is not None else ()
        view = next((v for v in views if v is not None and v.item.id == item_id), None)
        if view is None or view.question is None:
            return guideline
        return guideline.for_question(view.question)

    def _answer(self, view: ItemView, action, value, duration_ms) -> ItemView | Review:
        """An answer to the question ``view`` asks: the view asking the next question, or,
        after the last one, the review holding every answer."""
        one = self.guideline().for_question(view.question)
        val = _value(one, view, action, value)
        shown = view.suggestion.value if view.suggestion is not None else None
        # picking what the visible model suggested is agreeing; anything else is a fix
        action = "accept" if shown is not None and shown.key() == val.key() else "fix"
        given = (
            *[a for a in view.answered if a[0] != view.question],
            (view.question, val, action, _ms(duration_ms)),
        )
        done = {a[0] for a in given}
        left = [q for q in view.questions if q not in done]
        if left:
            return self._asking(replace(view, answered=given), left[0])
        value_all, act = questions.combined([(q, v, a) for q, v, a, _ in given])
        spent = [a[3] for a in given if a[3] is not None]
        return _row(view, act, value_all, sum(spent) if spent else None)

    def _review(self, view, action, value, reason, comment, duration_ms) -> Review:
        """The review row for an answer on a view; accept takes the suggestion shown."""
        val = _value(self.guideline(), view, action, value)
        shown = view.suggestion.value if view.suggestion is not None else None
        if action == "fix" and shown is not None and shown.key() == val.key():
            action = "accept"  # picking what the visible model suggested is agreeing
        return _row(
            view,
            action,
            val,
            _ms(duration_ms),
            reason=reason if action == "reject" else None,
            comment=comment,
        )

    def _context(self, item_id: str):
        ctx = self.store.lease_context(item_id)
        if ctx is None:
            raise LabelloopError(f"No item {item_id!r} in the store")
        return ctx

    def _in_blind_share(self, item_id: str) -> bool:
        return share_hit(item_id, self.config.blind_share, "blind")

    def _blind_reviewers(self) -> list[str]:
        """Reviewers shown everything blind (read again after ``SETTINGS_TTL`` seconds)."""
        now = time.monotonic()
        if self._blind is None or now - self._blind[0] > SETTINGS_TTL:
            names = (self.store.get_state(BLIND_STATE) or {}).get("reviewers", [])
            self._blind = (now, names)
        return self._blind[1]

    def _forget(self, user: str, item_id: str) -> None:
        """Drop a prepared view of an item decided outside the stream."""
        with self._lock(user):
            slot = self._slots.get(user)
            if slot and any(v and v.item.id == item_id for v in (slot.current, slot.prefetched)):
                self.store.release_lease(user, item_id)
                self._slots.pop(user, None)


def _value(guideline: Guideline, view: ItemView, action, value) -> LabelValue | None:
    """The label an accept or a fix on ``view`` decides (accept without a value takes the
    suggestion shown), checked against ``guideline``; None for other actions."""
    shown = view.suggestion.value if view.suggestion is not None else None
    if action == "accept":
        if shown is None and value is None:
            raise LabelloopError("Nothing to accept: no suggestion is shown; pick a label")
        val = shown if value is None else to_value(guideline, value)
    elif action == "fix":
        val = to_value(guideline, value)
    else:
        return None
    check_complete(guideline, view.item, val)
    return val


def _ms(duration_ms: int | None) -> int | None:
    return max(0, int(duration_ms)) if duration_ms is not None else None


def _row(view: ItemView, action, value: LabelValue | None, ms: int | None, **kw) -> Review:
    """The review row of a decision on ``view`` (the queue it was made in, blind or not,
    the suggestion it was routed on)."""
    return Review(
        item_id=view.item.id,
        reviewer=view.reviewer,
        action=action,
        value=value,
        queue=GOLD_QUEUE if view.gold else view.queue,
        blind=view.blind,
        suggestion_id=view.suggestion_id,
        duration_ms=ms,
        created_at=utcnow(),
        **kw,
    )


def _confidence(s: Suggestion | None) -> float | None:
    if s is None:
        return None
    return s.calibrated if s.calibrated is not None else s.confidence
