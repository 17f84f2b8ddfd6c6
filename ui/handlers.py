"""What the review console does, as plain functions over a project (no Gradio here).

The app in ``ui/app.py`` only wires these to components; everything that touches the
store, checks a reviewer or turns untrusted item text into HTML lives here, so it can be
tested without a browser.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from agent.errors import LabelloopError
from agent.types import Guideline, Item, LabelValue, Review, Suggestion

#: Queues shown without the model's suggestion, so the human label is independent of it.
BLIND_QUEUES = frozenset({"calibration", "audit"})
EMPTY_MESSAGE = (
    "No items are waiting for you. Items you skipped stay with the other reviewers; "
    "check back after the next labeling run."
)


class AuthError(LabelloopError):
    """The request has no logged-in, enabled console account behind it."""


class AlreadyDecided(LabelloopError):
    """The reviewer already decided this lease (a second tab or a double click)."""


@dataclass(frozen=True)
class ItemView:
    """One leased item as a reviewer sees it, plus what is needed to record the decision."""

    item: Item
    queue: str
    reviewer: str
    suggestion: Suggestion | None
    suggestion_id: int | None
    blind: bool
    labels: tuple[str, ...]
    kind: str
    started_at: datetime


def require_user(project, reviewer: str | None):
    """The enabled account named ``reviewer``; ``AuthError`` for anyone else."""
    user = project.store.get_user(reviewer) if reviewer else None
    if user is None or user.disabled:
        raise AuthError("Not logged in: sign in with a console account (`labelloop users add`)")
    return user


def next_item(project, reviewer: str | None) -> ItemView | None:
    """Lease the next item from the configured queues for ``reviewer``; None when all are empty."""
    require_user(project, reviewer)
    review = project.config.review
    got = project.store.next_for_review(reviewer, review.queues, review.lease_seconds)
    if got is None:
        return None
    item, queue = got
    guideline = project.guideline()
    route = project.store.get_route(item.id)
    sid = route.suggestion_id if route is not None else None
    blind = queue in BLIND_QUEUES
    suggestion = project.store.get_suggestion(sid) if sid is not None and not blind else None
    return ItemView(
        item=item,
        queue=queue,
        reviewer=reviewer,
        suggestion=suggestion,
        suggestion_id=sid,
        blind=blind,
        labels=tuple(guideline.label_names),
        kind=guideline.kind,
        started_at=datetime.now(UTC),
    )


def submit(
    project,
    reviewer: str | None,
    view: ItemView,
    action: str,
    label: str | list[str] | None = None,
    now: datetime | None = None,
) -> Review:
    """Record ``accept`` (the suggestion's value), ``fix`` (``label``) or ``skip`` for the view."""
    require_user(project, reviewer)
    if view.reviewer != reviewer:
        raise AuthError(f"This item is leased to {view.reviewer!r}, not to {reviewer!r}")
    action, value = _decision(project.guideline(), view, action, label)
    _refuse_duplicate(project.store, view)
    now = now or datetime.now(UTC)
    review = Review(
        item_id=view.item.id,
        reviewer=reviewer,
        action=action,
        value=value,
        queue=view.queue,
        blind=view.blind,
        suggestion_id=view.suggestion_id,
        duration_ms=max(0, int((now - view.started_at).total_seconds() * 1000)),
        created_at=now,
    )
    return review.model_copy(update={"id": project.store.add_review(review)})


def _decision(
    guideline: Guideline, view: ItemView, action: str, label: str | list[str] | None
) -> tuple[str, LabelValue | None]:
    if action == "skip":
        return "skip", None
    if action == "accept":
        if view.suggestion is None or view.suggestion.value is None:
            raise LabelloopError("Nothing to accept: no suggestion is shown; pick a label")
        return "accept", view.suggestion.value
    if action != "fix":
        raise LabelloopError(f"Unknown action {action!r}: valid actions are accept, fix, skip")
    value = label_value(guideline, label)
    suggested = view.suggestion.value if view.suggestion is not None else None
    # Picking exactly what the (visible) model suggested is agreeing with it.
    same = suggested is not None and suggested.key() == value.key()
    return ("accept" if same else "fix"), value


def label_value(guideline: Guideline, label: str | list[str] | None) -> LabelValue:
    """The ``LabelValue`` for a label picked in the console; refuses labels not in the guideline."""
    if guideline.kind == "spans" or guideline.unit == "turn":
        raise LabelloopError(
            f"Fixing {guideline.kind}/{guideline.unit} labels is not in this console yet: "
            "accept or skip the item"
        )
    names = [label] if isinstance(label, str) else list(label or [])
    if not names or (guideline.kind == "single" and len(names) != 1):
        raise LabelloopError("Pick a label first" if not names else "Pick exactly one label")
    valid = guideline.label_names
    for name in names:
        if name not in valid:
            raise LabelloopError(
                f"Unknown label {name!r} for task {guideline.task!r} (guideline "
                f"{guideline.version}): valid labels are {', '.join(valid)}"
            )
    if guideline.kind == "multi":
        return LabelValue(labels=tuple(dict.fromkeys(names)))
    return LabelValue(label=names[0])


def _refuse_duplicate(store, view: ItemView) -> None:
    # A second tab or a double click on the same lease must not record the decision twice.
    for r in store.reviews_for(view.item.id):
        if r.reviewer == view.reviewer and r.created_at >= view.started_at:
            raise AlreadyDecided(
                f"Item {view.item.id!r} was already decided ({r.action}) in another tab; "
                "loading the next one"
            )


def counts_md(project) -> str:
    """One Markdown line: items waiting per configured queue, and items reviewed."""
    counts = project.store.route_counts()
    parts = [f"{q} **{counts.get(q, 0)}**" for q in project.config.review.queues]
    parts.append(f"reviewed **{counts.get('reviewed', 0)}**")
    line = "Waiting: " + " · ".join(parts)
    alarm = project.store.get_state("audit_alarm") or {}
    if alarm.get("active"):
        # the reason is our own text built from counts, but escape it like everything else
        line += f"\n\n**Audit alarm:** {_esc(alarm.get('reason', 'auto-accepting is stopped'))}"
    return line


def render_item_html(item: Item) -> str:
    """The item as HTML with every piece of its text escaped (item text is untrusted)."""
    head = f'<div class="ll-item-id">Item <code>{_esc(item.id)}</code></div>'
    if item.messages is None:
        body = f'<div class="ll-text">{_esc(item.text or "")}</div>'
        return f'<div class="ll-item">{head}{body}</div>'
    turns = "".join(
        _turn_html(i, m.role, m.content, i == item.target_turn) for i, m in enumerate(item.messages)
    )
    return f'<div class="ll-item">{head}<ol class="ll-turns">{turns}</ol></div>'


def _turn_html(index: int, role: str, content: str, target: bool) -> str:
    role_class = re.sub(r"[^a-z0-9_-]", "", role.lower()) or "other"
    classes = f"ll-turn ll-role-{role_class}" + (" ll-target" if target else "")
    marker = '<span class="ll-target-mark">label this turn</span>' if target else ""
    return (
        f'<li class="{classes}" data-turn="{index}">'
        f'<div class="ll-turn-head"><span class="ll-turn-no">#{index}</span> '
        f'<span class="ll-role">{_esc(role)}</span>{marker}</div>'
        f'<div class="ll-content">{_esc(content)}</div></li>'
    )


def render_suggestion_html(suggestion: Suggestion | None, blind: bool = False) -> str:
    """The model's label, confidence (as a percentage) and escaped rationale."""
    if blind:
        return (
            '<div class="ll-suggestion ll-blind"><b>Shown blind.</b> The model\'s suggestion is '
            "hidden for this queue so that your label is independent of it.</div>"
        )
    if suggestion is None:
        return '<div class="ll-suggestion ll-none">No model suggestion for this item.</div>'
    if suggestion.value is None:
        reason = _esc(suggestion.error or "no usable label")
        return f'<div class="ll-suggestion ll-failed">The model gave no label: {reason}</div>'
    rows = [
        ("Label", f'<span class="ll-label">{_esc(suggestion.value.short())}</span>'),
        ("Confidence", _esc(_percent(suggestion))),
        ("Model", _esc(suggestion.model)),
    ]
    cells = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    rationale = _esc(suggestion.rationale) or "<i>no rationale given</i>"
    return (
        f'<div class="ll-suggestion"><table>{cells}</table>'
        f'<div class="ll-rationale">{rationale}</div></div>'
    )


def _percent(suggestion: Suggestion) -> str:
    p = suggestion.calibrated if suggestion.calibrated is not None else suggestion.confidence
    if p is None:
        return "unknown"
    kind = "calibrated" if suggestion.calibrated is not None else "model's own"
    return f"{p:.0%} ({kind})"


def guideline_md(guideline: Guideline) -> str:
    """The guideline's Markdown as shown to reviewers (the file without its front matter)."""
    text = guideline.text
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            text = text[end + 5 :]
    return text.strip() or "_The guideline has no text._"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
