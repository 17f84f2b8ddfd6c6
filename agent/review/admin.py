"""What an admin does in the console besides reviewing: gold answers and the blind setting,
adjudication of disagreeing answers, bulk accept in the item browser, and the dashboard.

Mixed into :class:`labelloop.review.service.ReviewService`, whose lease, view and review
helpers these methods use; every method takes the acting user and checks the role first.
"""

from __future__ import annotations

from collections.abc import Mapping

from labelloop.core.errors import LabelloopError
from labelloop.core.types import Review, utcnow
from labelloop.review import browse as review_browse
from labelloop.review import bulk as review_bulk
from labelloop.review import dashboard as review_dashboard
from labelloop.review.judging import shown_order
from labelloop.review.rules import (
    answered_sections,
    check_complete,
    route_after,
    to_value,
)
from labelloop.review.views import (
    ADJUDICATION_QUEUE,
    AdjudicationView,
    BrowseFilters,
    BulkPlan,
    BulkResult,
    ValueInput,
)

#: the reviewers whose items are all shown blind
BLIND_STATE = "review:blind_reviewers"


class AdminActions:
    """Admin actions of the review service (see the module docstring)."""

    def set_blind(self, admin: str, reviewer: str, blind: bool) -> None:
        """Admin: show ``reviewer`` every item blind (or stop doing so)."""
        self.require_admin(admin)
        self.user(reviewer)
        names = set(self._blind_reviewers())
        names = names | {reviewer} if blind else names - {reviewer}
        self.store.set_state(BLIND_STATE, {"reviewers": sorted(names)})
        self._blind = None
        with self._lock(reviewer):
            self._slots.pop(reviewer, None)  # prepared views used the old setting

    def add_gold(self, admin: str, answers: Mapping[str, ValueInput]) -> int:
        """Admin: make items gold with their known answers; returns how many were added."""
        self.require_admin(admin)
        guideline = self.guideline()
        values = {item: to_value(guideline, v) for item, v in answers.items()}
        try:
            return self.store.add_gold(values, source="console", by=admin)
        except KeyError as exc:
            raise LabelloopError(f"No item {exc.args[0]!r} in the store: import it first") from exc

    def gold_from_import(self, admin: str, import_id: int | None = None) -> int:
        """Admin: labels of an import (default: every import marked ``--sample``) become gold."""
        self.require_admin(admin)
        answers = self.store.import_answers(import_id)
        source = f"import {import_id}" if import_id is not None else "sample imports"
        return self.store.add_gold(answers, source=source, by=admin)

    def gold_accuracy(self, admin: str) -> dict[str, tuple[int, int]]:
        """Admin: reviewer -> (correct, total) on gold items."""
        self.require_admin(admin)
        out: dict[str, list[int]] = {}
        for review, gold in self.store.gold_answers():
            tally = out.setdefault(review.reviewer, [0, 0])
            tally[0] += review.value is not None and review.value.key() == gold.key()
            tally[1] += review.action != "skip"
        return {name: (c, n) for name, (c, n) in sorted(out.items()) if n}

    def adjudication_items(self, admin: str, limit: int = 100) -> list[str]:
        """Admin: item ids waiting for adjudication, in queue order."""
        self.require_admin(admin)
        return self.store.queue_item_ids(ADJUDICATION_QUEUE)[:limit]

    def adjudication_view(self, admin: str, item_id: str) -> AdjudicationView:
        """Admin: every answer on the item, with the suggestion and comments."""
        self.require_admin(admin)
        ctx = self._context(item_id)
        guideline = self.guideline()
        answers = tuple(
            a
            for a in review_browse.answers(self.store, item_id, standing=True)
            if a.action in ("accept", "fix", "reject", "import")
        )
        suggested = ctx.suggestion.value if ctx.suggestion is not None else None
        return AdjudicationView(
            item=ctx.item,
            suggestion=ctx.suggestion,
            answers=answers,
            labels=tuple(guideline.label_names),
            kind=guideline.kind,
            order=shown_order(item_id, admin, ctx.item.reply_ids) if guideline.judges else (),
            sections=answered_sections(guideline, [suggested, *(a.value for a in answers)]),
        )

    def adjudicate(
        self, admin: str, item_id: str, value: ValueInput, comment: str | None = None
    ) -> Review:
        """Admin: the final label of an item waiting for adjudication; it wins over every
        other review of the item."""
        self.require_admin(admin)
        ctx = self._context(item_id)
        if ctx.route != ADJUDICATION_QUEUE:
            raise LabelloopError(
                f"Item {item_id!r} is not waiting for adjudication (route: "
                f"{ctx.route or 'unlabeled'}): refresh the list"
            )
        self._may_change(self.viewer(admin), item_id, ctx)
        guideline = self.guideline()
        val = to_value(guideline, value)
        check_complete(guideline, ctx.item, val)
        sugg = ctx.suggestion
        same = sugg is not None and sugg.value is not None and sugg.value.key() == val.key()
        review = Review(
            item_id=item_id,
            reviewer=admin,
            action="accept" if same else "fix",
            value=val,
            queue=ADJUDICATION_QUEUE,
            suggestion_id=sugg.id if sugg else None,
            comment=comment,
        )
        change = route_after(ADJUDICATION_QUEUE, review, [], False, 1)
        stored, _ = self.store.record_decision(review, change, needs_lease=False)
        self._forget(admin, item_id)
        return stored

    def bulk_preview(self, admin: str, filters: BrowseFilters) -> BulkPlan:
        """Admin: what a bulk accept on these filters would do, to confirm (``bulk_accept``
        with the plan's token); see ``labelloop.review.bulk``."""
        self.require_admin(admin)
        kind, overlap = self.guideline().kind, self.config.overlap
        plan = review_bulk.plan(self.store, admin, filters, kind, overlap, utcnow())
        with self._guard:
            self._plans[admin] = plan
        return plan

    def bulk_accept(self, admin: str, token: str) -> BulkResult:
        """Admin: accept the suggestions of the previewed plan ``token``, recorded as one bulk
        accept; items that changed since the preview are left as they are and listed."""
        self.require_admin(admin)
        with self._guard:
            plan = self._plans.get(admin)
            if plan is None or plan.token != token:
                raise LabelloopError(
                    "That preview is no longer current: preview the bulk accept again"
                )
            del self._plans[admin]
        return review_bulk.accept(self.store, admin, plan, utcnow())

    def undo_bulk(self, admin: str) -> BulkResult:
        """Admin: take back your latest bulk accept on every item nobody changed since;
        the others are listed with why they were kept."""
        self.require_admin(admin)
        return review_bulk.undo(self.store, admin, utcnow())

    def dashboard(self, admin: str) -> dict:
        """Admin: progress, throughput, agreement, calibration, audit alarm and cost."""
        self.require_admin(admin)
        return review_dashboard.dashboard(self.project, self.gold_accuracy(admin))
