"""The item browser's side of the review service: pages of items, one item's history, and a
decision changed or reopened in the editor outside the queues.

Mixed into :class:`labelloop.review.service.ReviewService`, whose lease, view and review
helpers these methods use. Who may see and change what is ``labelloop.review.access``'s rule.
"""

from __future__ import annotations

from dataclasses import replace

from labelloop.core.consensus import rule_of
from labelloop.core.context import context_of
from labelloop.core.errors import LabelloopError
from labelloop.core.standing import final_label, standing_review
from labelloop.core.types import Review, Route, utcnow
from labelloop.review import browse as review_browse
from labelloop.review.access import (
    ItemState,
    Viewer,
    refuses_change,
    shows_model,
    shows_others,
)
from labelloop.review.rules import (
    check_reason,
)
from labelloop.review.views import (
    ADJUDICATION_QUEUE,
    BROWSER_QUEUE,
    Action,
    BrowseFilters,
    BrowsePage,
    ItemDetail,
    ItemView,
    Outcome,
    ValueInput,
)
from labelloop.store.review_queue import RouteChange, browse_label


class Editing:
    """The item browser's methods of the review service (see the module docstring)."""

    def viewer(self, name: str) -> Viewer:
        """The account ``name`` as the access rules see it."""
        row = self.user(name)
        return Viewer(name, row.role, blind=name in self._blind_reviewers())

    def item_state(self, item_id: str, ctx=None, holder: bool = True) -> ItemState:
        """What the access rules read about an item (``ctx``: its lease context, if read)."""
        ctx = ctx or self._context(item_id)
        route = ctx.route or Route.UNLABELED
        return ItemState(
            route=route,
            gold=ctx.gold is not None,
            holder=self.store.lease_holder(item_id, utcnow()) if holder else None,
            blind_share=self._in_blind_share(item_id),
        )

    def browse(
        self, user: str, filters: BrowseFilters, page: int = 0, page_size: int = 30
    ) -> BrowsePage:
        """A page of items matching the filters, in id order, with a capped total; for
        reviewers, without the model's answer where it is shown blind."""
        viewer = self.viewer(user)
        filters = self.filters_for(viewer, filters)
        guideline = self.guideline()
        got = review_browse.browse(self.store, filters, guideline.kind, page, page_size)
        if not viewer.admin:
            rows = tuple(
                row if shows_model(viewer, self._row_state(row)) else review_browse.masked(row)
                for row in got.rows
            )
            got = replace(got, rows=rows)
        if guideline.judges:
            got = review_browse.judged(
                self.store, got, None if viewer.admin else user, rule_of(self.guideline())
            )
        return got

    def filters_for(self, viewer: Viewer, filters: BrowseFilters) -> BrowseFilters:
        """``filters`` as ``viewer`` may apply them: for reviewers, the label and confidence
        filters read the model's answer only on items they may see it on."""
        if viewer.admin:
            return filters
        strict = viewer.blind or self.config.blind_share > 0
        return replace(filters, visible="reviewed" if strict else "open")

    def _row_state(self, row) -> ItemState:
        return ItemState(
            route=row.route, gold=row.gold, blind_share=self._in_blind_share(row.item_id)
        )

    def item_detail(self, user: str, item_id: str) -> ItemDetail:
        """The item with every suggestion and review (for reviewers, what they may see)."""
        viewer, guideline = self.viewer(user), self.guideline()
        detail = review_browse.item_detail(self.store, item_id, rule_of(guideline))
        if detail is None:
            raise LabelloopError(f"No item {item_id!r} in the store")
        detail = replace(detail, context=context_of(detail.item, guideline.context))
        if viewer.admin:
            return detail
        state = ItemState(
            route=detail.route,
            gold=detail.gold is not None,
            blind_share=self._in_blind_share(item_id),
        )
        model, others = shows_model(viewer, state), shows_others(viewer, state)
        return review_browse.seen_by(detail, user, model, others)

    def _may_change(self, viewer: Viewer, item_id: str, ctx) -> None:
        why = refuses_change(viewer, self.item_state(item_id, ctx))
        if why is not None:
            raise LabelloopError(f"Item {item_id!r} cannot be changed here: {why}")

    def change_decision(
        self,
        user: str,
        item_id: str,
        action: Action,
        value: ValueInput = None,
        reason: str | None = None,
        comment: str | None = None,
    ) -> Review:
        """A new review row that replaces the user's earlier decision on an item nobody
        else holds (reviewers: on items that wait for nobody; see ``labelloop.review.access``).
        A decision equal to the human label the item has already changes nothing and is
        refused."""
        viewer = self.viewer(user)
        check_reason(action, reason, comment)
        if action == "skip":
            raise LabelloopError("Skip is for the queue: in the browser accept, fix or reject")
        ctx = self._context(item_id)
        self._may_change(viewer, item_id, ctx)
        view = self._view_of(
            user, ctx, BROWSER_QUEUE, blind=False, gold=False, overlap=False, similar=False
        )
        review = self._review(view, action, value, reason, comment, None)
        self._refuse_no_change(ctx, review)
        # the browser's label is the one that stands after it (an adjudication outranks it)
        stands = standing_review(
            [*self.store.iter_reviews([item_id]), review], Route.REVIEWED, rule_of(self.guideline())
        )
        label = browse_label(stands.value) if stands is not None else None
        change = RouteChange(Route.REVIEWED, f"changed by {user}", label)
        if ctx.route is None:
            change = RouteChange(None)
        stored, _ = self.store.record_decision(review, change, needs_lease=False)
        self._forget(user, item_id)
        return stored

    def _refuse_no_change(self, ctx, review: Review) -> None:
        route = self.store.get_route(ctx.item.id)
        rule = rule_of(self.guideline())
        final, source = final_label(review_browse.item_record(self.store, ctx, route, rule))
        if review.action == "reject" or source not in ("human", "adjudicated"):
            return
        if final is not None and review.value is not None and final.key() == review.value.key():
            raise LabelloopError(
                f"Item {ctx.item.id!r} already has {final.short()} ({source}): nothing to "
                "change; pick another label or action"
            )

    def edit(self, user: str, item_id: str, adjudicate: bool = False) -> ItemView:
        """Open a decided item in the review editor, starting from its final answer (or,
        for an adjudication, its latest answer): spans and turn labels are edited there,
        and the next decision on it is recorded as ``change_decision`` or ``adjudicate``
        would. Skip leaves the editor without a decision."""
        role = (self.require_admin(user) if adjudicate else self.user(user)).role
        ctx = self._context(item_id)
        if adjudicate and ctx.route != ADJUDICATION_QUEUE:
            raise LabelloopError(
                f"Item {item_id!r} is not waiting for adjudication (route: "
                f"{ctx.route or 'unlabeled'}): refresh the list"
            )
        viewer = self.viewer(user)
        self._may_change(viewer, item_id, ctx)
        queue = ADJUDICATION_QUEUE if adjudicate else BROWSER_QUEUE
        blind = not shows_model(viewer, self.item_state(item_id, ctx, holder=False))
        view = self._view_of(user, ctx, queue, blind=blind, gold=False, overlap=False)
        if adjudicate:
            answers = review_browse.answers(self.store, item_id, standing=True)
            start = next((a.value for a in reversed(answers) if a.value is not None), None)
        else:
            route = self.store.get_route(item_id)
            rule = rule_of(self.guideline())
            start = final_label(review_browse.item_record(self.store, ctx, route, rule))[0]
        if view.question is not None:  # several questions: edited one after another
            view = self._asking(replace(view, whole_start=start), view.question)
        else:
            view = replace(view, start=start)
        with self._lock(user):
            self._slot(user, role).editing = view
        return view

    def _end_edit(self, user: str, item_id: str) -> ItemView | None:
        """The view being edited, taken out of the editor, when ``item_id`` is it."""
        with self._lock(user):
            slot = self._slots.get(user)
            if slot is None or slot.editing is None or slot.editing.item.id != item_id:
                return None
            view, slot.editing = slot.editing, None
            return view

    def _decide_edit(self, view: ItemView, action, value, reason, comment) -> Outcome:
        user, item_id = view.reviewer, view.item.id
        if action == "skip":
            review = Review(item_id=item_id, reviewer=user, action="skip", queue=view.queue)
            return Outcome(review=review, next=self.next_item(user))
        if action == "accept" and value is None:  # kept the answer the editor started from
            value = view.start
            if value is None and view.suggestion is not None:
                value = view.suggestion.value
        if view.question is not None and action in ("accept", "fix"):
            try:
                got = self._answer(view, "fix", value, None)
            except LabelloopError:
                with self._lock(user):
                    self._slot(user, self.user(user).role).editing = view
                raise
            if not isinstance(got, Review):  # the next question, in the editor
                with self._lock(user):
                    self._slot(user, self.user(user).role).editing = got
                return Outcome(review=None, next=got)
            action, value = "fix", got.value
        try:
            if view.queue == ADJUDICATION_QUEUE:
                if action == "reject":
                    raise LabelloopError("An adjudication decides a label: fix it, or skip")
                review = self.adjudicate(user, item_id, value, comment)
            else:
                action = "fix" if action == "accept" and value is not None else action
                review = self.change_decision(user, item_id, action, value, reason, comment)
        except LabelloopError:
            with self._lock(user):  # not saved: the item stays open in the editor
                self._slot(user, self.user(user).role).editing = view
            raise
        return Outcome(review=review, next=self.next_item(user))
