"""What the review console does, as plain methods over a project (no Gradio here).

``ui/app.py`` only wires these to components. Each method takes the request, finds the
account behind it again (session cookie or trusted proxy header), checks the role, calls
the review service and renders escaped HTML. The browser sends decisions as one small
JSON command (what the keys built up: the pick, spans, turn labels, reason, duration).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from labelloop.core.errors import AccessDenied, LabelloopError, ReviewConflict
from labelloop.core.positions import from_shown, to_shown
from labelloop.core.types import Guideline, LabelValue, Route
from labelloop.review import judging
from labelloop.review.service import ACTIONS, REJECT_REASONS, BrowseFilters, ReviewService
from labelloop.ui import dashboard_view, render

SIGNED_OUT = "Your session has ended: sign in again."
EMPTY = (
    "No items are waiting for you. Items you skipped stay with the other reviewers; "
    "check back after the next labeling run."
)
STALE_PREVIEW = (
    "The filters changed since the preview, so nothing was accepted: press Accept all "
    "matching… to preview the bulk accept for these filters."
)
#: a decision command is a few hundred bytes; anything much bigger is not from the console
MAX_COMMAND = 64 * 1024
MAX_COMMENT = 2000
#: deliveries shown in the webhooks tab
WEBHOOK_LOG = 30
ROUTES = ("", *(r.value for r in Route))


class AuthError(LabelloopError):
    """No live session (or trusted proxy user) behind the request."""


@dataclass(frozen=True)
class Screen:
    """The review tab after an event: the item, what sits beside it, and a status line."""

    item: str
    side: str
    status: str
    #: the label picker, when it changes with the item (a question of several); None: as is
    picker: str | None = None


class Console:
    """The console's handlers over one project and its review service."""

    def __init__(self, project, accounts, service: ReviewService | None = None, files=None) -> None:
        self.project = project
        self.accounts = accounts
        self.guideline: Guideline = project.guideline()
        self.service = service or ReviewService(project)
        self._files = files

    @property
    def files(self):
        """Where exports are written: the console's private folder (made on first use)."""
        if self._files is None:
            from labelloop.ui.files import ConsoleFiles

            self._files = ConsoleFiles(self.project.config.review.export_retention_minutes)
        return self._files

    # --- who is asking ------------------------------------------------------------------

    def user(self, request, admin: bool = False):
        """The account behind ``request``, checked again here; admins only when asked."""
        raw = getattr(request, "request", None) or request
        user = self.accounts.user(raw) if raw is not None else None
        if user is None:
            raise AuthError(SIGNED_OUT)
        if admin and user.role != "admin":
            raise AccessDenied(f"{user.name!r} is a reviewer: this needs an admin account")
        return user

    def role(self, request) -> str:
        return self.user(request).role

    # --- the review stream --------------------------------------------------------------

    def open(self, request) -> Screen:
        """The reviewer's current item (leasing one when needed)."""
        user = self.user(request)
        return self.screen(user, self.service.next_item(user.name))

    def command(self, raw: str, request) -> Screen:
        """Run one command from the keys: accept, fix, reject, skip or undo."""
        user = self.user(request)
        try:
            cmd = parse_command(raw)
            if cmd["action"] == "undo":
                view = self.service.undo(user.name)
                return self.screen(user, view, "Undone: the item is back with you.")
            item_id = str(cmd.get("item", ""))
            asked = self.service.guideline_for(user.name, item_id)  # a question of several
            value = parse_value(asked, cmd.get("value"))
            if asked.judges:  # the page names replies by position, as it shows them
                value = from_shown(value, self.order(item_id, user.name, asked))
            outcome = self.service.decide(
                user.name,
                item_id,
                cmd["action"],
                value,
                reason=cmd.get("reason"),
                comment=_comment(cmd.get("comment")),
                duration_ms=_duration(cmd.get("ms")),
            )
        except ReviewConflict as exc:
            return self.screen(user, self.service.next_item(user.name), str(exc), "warn")
        except LabelloopError as exc:
            if isinstance(exc, AccessDenied | AuthError):
                raise
            return self.screen(user, self.service.next_item(user.name), str(exc), "error")
        # the next item is on screen already: the note names the one it is about
        review = outcome.review
        if review is None:  # one question of several answered: the next one is asked
            return self.screen(user, outcome.next)
        done = self.saved(review, user.name) if review.action != "skip" else ""
        return self.screen(user, outcome.next, done)

    def saved(self, review, name: str) -> str:
        """What was saved, in words: the label, and a reject's reason and comment; a label
        given on a blind item (there was nothing to fix) is said as labeled."""
        said = self.say(review.value, review.item_id, name)
        if review.action == "reject":
            why = render.REASON_TEXT.get(review.reason or "", review.reason or "no reason")
            text = f"Saved {review.item_id}: reject, {why}"
            if review.comment:
                text += f": “{review.comment}”"
            return text + (f" (label {said})" if review.value is not None else "")
        if review.action == "fix" and review.blind:
            return f"Saved {review.item_id}: labeled {said} (blind)"
        return f"Saved {review.item_id}: {review.action} {said}"

    def order(self, item_id: str, name: str, guideline: Guideline | None = None) -> tuple[str, ...]:
        """A judging item's reply ids in the order ``name`` sees them (none for other tasks,
        or for an item the store does not have)."""
        if not (guideline or self.guideline).judges:
            return ()
        item = self.project.store.get_item(item_id)
        return judging.shown_order(item_id, name, item.reply_ids) if item is not None else ()

    def say(self, value: LabelValue | None, item_id: str, name: str) -> str:
        """A decision in words as ``name`` sees the item: a judging answer by position."""
        if not self.guideline.judges:
            return render.value_text(value)
        return render.answer_text(value, self.order(item_id, name))

    def screen(self, user, view, message: str = "", kind: str = "info") -> Screen:
        # a warning or error is about the item shown with it: the page drops it when that
        # item leaves the screen, or when the reviewer acts on it (ui/static/console.js)
        about = view.item.id if view is not None and kind != "info" else None
        note = render.message_html(message, kind, about) if message else ""
        who = f"signed in as <b>{render.esc(user.name)}</b> ({render.esc(user.role)})"
        stamp = str(time.monotonic_ns())
        if view is None:
            empty = (
                f'<div class="ll-item ll-empty" data-item="" data-v="{stamp}">'
                f"{render.esc(EMPTY)}</div>"
            )
            return Screen(empty, "", f"{note}{_status(who)}")
        picker = None
        if view.question is not None:  # each question has its own labels and keys
            one = self.guideline.for_question(view.question)
            picker = render.picker_html(one, REJECT_REASONS)
        return Screen(
            render.item_html(view, stamp),
            render.side_html(view),
            f"{note}{_status(who)}",
            picker,
        )

    # --- adjudication (admins) ----------------------------------------------------------

    def adjudication_ids(self, request) -> list[str]:
        return self.service.adjudication_items(self.user(request, admin=True).name)

    def adjudication(self, item_id: str, request) -> tuple[str, list[tuple[str, str]]]:
        """Every answer side by side, and the answers offered as the final label."""
        admin = self.user(request, admin=True)
        view = self.service.adjudication_view(admin.name, item_id)
        order = view.order or None
        html = render.answers_html(view.item, view.suggestion, view.answers, order)
        html += "".join(render.section_html(s, whole=False) for s in view.sections)
        offered: dict[str, str] = {}
        values = [(a.reviewer, a.value) for a in view.answers if a.value is not None]
        if view.suggestion is not None and view.suggestion.value is not None:
            values.append(("model", view.suggestion.value))
        for who, value in values:
            if order:  # by position in the adjudicator's order, as the page shows the replies
                shown = to_shown(value, order)
                key = json.dumps(shown.as_dict() if shown else None, sort_keys=True)
            else:
                key = json.dumps(value.as_dict(), sort_keys=True)
            offered.setdefault(key, f"{render.answer_text(value, order)} ({who})")
        return html, [(label, key) for key, label in offered.items()]

    def adjudicate(self, item_id: str, choice: str | None, label, comment: str, request) -> str:
        """Decide an adjudication: a label picked here wins over an answer chosen."""
        admin = self.user(request, admin=True)
        value = self._chosen(item_id, admin.name, label, choice)
        review = self.service.adjudicate(admin.name, item_id, value, _comment(comment))
        return f"Decided {item_id}: {self.say(review.value, item_id, admin.name)}"

    def _chosen(self, item_id: str, name: str, label, choice: str | None) -> LabelValue:
        """The adjudicator's answer: a label picked (a reply by name for a pairwise task)
        wins over an answer chosen (by position in their order for a judging task)."""
        g = self.guideline
        if label and g.judges:
            if g.kind != "pairwise":
                raise LabelloopError("Choose one of the answers, or edit it in the review tab")
            return judging.from_choice(str(label), self.order(item_id, name))
        if label:
            return parse_value(g, _picked(g, label))
        if not choice:
            raise LabelloopError("Choose one of the answers or pick a label first")
        value = parse_value(g, json.loads(choice))
        return from_shown(value, self.order(item_id, name)) if g.judges else value

    # --- item browser -------------------------------------------------------------------

    def browse(self, filters: BrowseFilters, page: int, request) -> str:
        user = self.user(request)
        return render.browse_html(self.service.browse(user.name, filters, page=max(0, page)))

    def item_id(self, typed: str | None) -> str:
        """The item an id from the browser's form names: as it is when the store has it (an
        id may begin or end with spaces, and a clicked row sends it whole), else trimmed."""
        typed = typed or ""
        if typed != typed.strip() and self.project.store.get_item(typed) is not None:
            return typed
        return typed.strip()

    def detail(self, item_id: str, request) -> str:
        user = self.user(request)
        detail = self.service.item_detail(user.name, item_id)
        order = self.order(item_id, user.name) or None
        return render.detail_html(detail, order, by_id=user.role == "admin")

    def change_form(self, item_id: str, request):
        """The change form's start for the open item: no action, and its final label where
        the form can hold it (single and multi-label); None otherwise."""
        user = self.user(request)
        final = self.service.item_detail(user.name, item_id).final
        g = self.guideline
        if g.kind == "pairwise" and final is not None:  # the reply by name, as offered
            said = judging.describe(final, self.order(item_id, user.name))
            return said if said in judging.pick_choices(g) else None
        if final is None or g.unit == "turn" or g.kind in ("spans", "rating", "ranking"):
            return None
        return list(final.labels or ()) if g.kind == "multi" else final.label

    def change(
        self, item_id: str, action: str, label, reason, comment, request, opened: str = ""
    ) -> str:
        """A new decision on the item open in the browser (a new review row; the old one
        stays). ``opened``: the item the form was filled for; another id is refused."""
        user = self.user(request)
        if not item_id or item_id != opened:
            raise LabelloopError("Open the item first (Open), then change it")
        if action not in ACTIONS or action == "skip":
            raise LabelloopError("Choose accept, fix or reject")
        value = None
        if label and self.guideline.judges:
            value = self._chosen(item_id, user.name, label, None)
        elif label:
            value = parse_value(self.guideline, _picked(self.guideline, label))
        review = self.service.change_decision(
            user.name, item_id, action, value, reason=reason or None, comment=_comment(comment)
        )
        return f"Changed {item_id}: {review.action} {self.say(review.value, item_id, user.name)}"

    def edit(self, item_id: str, adjudicate: bool, request) -> Screen:
        """Open a decided item in the review tab's editor (spans, turn labels, any kind)."""
        user = self.user(request, admin=adjudicate)
        if not item_id:
            raise LabelloopError("Open an item first")
        return self.screen(user, self.service.edit(user.name, item_id, adjudicate=adjudicate))

    def bulk_preview(self, filters: BrowseFilters, request) -> tuple[str, str]:
        """What a bulk accept would do (HTML) and the plan's token, to confirm it with."""
        admin = self.user(request, admin=True)
        plan = self.service.bulk_preview(admin.name, filters)
        left = sum(n for _, n in plan.left_out)
        lines = [
            f"Accept the model's suggestion on <b>{plan.count}</b> of "
            f"{plan.count + left} matching items waiting for people? Press "
            "<b>Confirm bulk accept</b> to do it; it is recorded as one bulk accept that "
            "<b>Undo my last bulk accept</b> takes back."
        ]
        if plan.left_out:
            why = "; ".join(f"{render.esc(reason)}: {n}" for reason, n in plan.left_out)
            lines.append(f"Left to people: {why}.")
        if not plan.count:
            lines = ["No matching item can be bulk accepted.", *lines[1:]]
        return render.message_html_raw(" ".join(lines), "warn"), plan.token if plan.count else ""

    def bulk_accept(
        self,
        token: str,
        request,
        planned: BrowseFilters | None = None,
        current: BrowseFilters | None = None,
    ) -> str:
        """Confirm the previewed bulk accept. Nothing is accepted when the filters on the form
        (``current``) are no longer those it was previewed with (``planned``): the admin
        confirms what the form shows, and previews that first."""
        admin = self.user(request, admin=True)
        if not token:
            raise LabelloopError("Preview a bulk accept first (Accept all matching…)")
        if current is not None and planned != current:
            return render.message_html(STALE_PREVIEW, "warn")
        done = self.service.bulk_accept(admin.name, token)
        text = (
            f"Bulk accept #{done.bulk_id}: accepted the suggestion on {len(done.changed)} items "
            f"(by {admin.name})."
        )
        if done.kept:
            text += f" Left as they were, changed since the preview: {_ids(done.kept)}."
        return render.message_html(text)

    def bulk_undo(self, request) -> str:
        admin = self.user(request, admin=True)
        done = self.service.undo_bulk(admin.name)
        text = f"Undid bulk accept #{done.bulk_id}: {len(done.changed)} items back in the queue."
        if done.kept:
            kept = "; ".join(f"{i} ({why})" for i, why in done.kept[:20])
            more = f" and {len(done.kept) - 20} more" if len(done.kept) > 20 else ""
            text += f" Kept as they are now: {kept}{more}."
        return render.message_html(text, "warn" if done.kept else "info")

    # --- the lead's dashboard -----------------------------------------------------------

    def dashboard(self, request) -> tuple[str, str]:
        """Admin: the dashboard's top (numbers and small plots) and its details."""
        admin = self.user(request, admin=True)
        data = self.service.dashboard(admin.name)
        top = dashboard_view.top_html(data["top"])
        return top, dashboard_view.details_html(data["details"], data.get("plots", {}))

    def set_blind(self, reviewer: str, blind: bool, request) -> str:
        admin = self.user(request, admin=True)
        self.service.set_blind(admin.name, reviewer, blind)
        return f"{reviewer} now sees {'every item blind' if blind else 'suggestions as routed'}"

    def export(self, fmt: str, request) -> str:
        """Admin: the project's labeled data as a file to download."""
        from labelloop.export.writer import export
        from labelloop.route.state import routing_model

        self.user(request, admin=True)
        model = routing_model(self.project)
        stages = self.project.config.routing.cascade or ()
        suffix = {"hf": "", "csv": ".csv", "labelstudio": ".json", "conll": ".conll"}
        path = self.files.new_export(f"{self.guideline.task}{suffix.get(fmt, '.jsonl')}")
        export(self.project.store, path, fmt, None, model, stages, guideline=self.guideline)
        if not path.exists():  # CoNLL of several span questions: a file each, in one zip
            path = _zipped(path, sorted(path.parent.glob(f"{path.stem}.*{path.suffix}")))
        return str(self.files.seal(path))

    # --- webhooks (admins) --------------------------------------------------------------

    def webhooks(self, request) -> str:
        """The webhooks, and the newest deliveries with their attempts."""
        from labelloop.hooks.registry import SECRET_SAID, secret_state

        self.user(request, admin=True)
        store = self.project.store
        hooks = [(h, SECRET_SAID[secret_state(h)]) for h in store.list_webhooks()]
        return render.webhooks_html(hooks) + render.deliveries_html(
            store.webhook_deliveries(limit=WEBHOOK_LOG)
        )

    def webhook_add(self, url: str, events, secret_env: str, request) -> str:
        """Register a webhook for the events ticked (all when none is), signed with the
        secret in ``secret_env`` (default ``LABELLOOP_WEBHOOK_SECRET``) of this process."""
        from labelloop.hooks.registry import add_webhook

        admin = self.user(request, admin=True)
        added = add_webhook(
            self.project, url, list(events or ()), (secret_env or "").strip() or None, admin.name
        )
        hook = added.webhook
        text = (
            f"Webhook {hook.id} added: {hook.url} gets {', '.join(hook.events)}, signed with "
            f"the secret in {hook.secret_env}."
        )
        if added.warning:
            return render.message_html(f"{text} {added.warning}", "warn")
        return render.message_html(text)

    def webhook_remove(self, webhook_id, request) -> str:
        from labelloop.hooks.registry import remove_webhook

        self.user(request, admin=True)
        try:
            number = int(webhook_id)
        except (TypeError, ValueError):
            raise LabelloopError("Give the id of a webhook from the list") from None
        hook = remove_webhook(self.project, number)
        return render.message_html(
            f"Webhook {hook.id} ({hook.url}) removed: what it still had to get is cancelled."
        )


# --- parsing what the browser sent -------------------------------------------------------


def parse_command(raw: str) -> dict:
    """The JSON command from the keys; refuses anything that is not a known action."""
    if not raw or len(raw) > MAX_COMMAND:
        raise LabelloopError("Empty or oversized command: reload the page")
    try:
        cmd = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LabelloopError(f"Unreadable command ({exc.msg}): reload the page") from exc
    if not isinstance(cmd, dict) or cmd.get("action") not in (*ACTIONS, "undo"):
        raise LabelloopError(f"Unknown action: valid actions are {', '.join(ACTIONS)}, undo")
    if cmd["action"] == "reject" and cmd.get("reason") not in REJECT_REASONS:
        raise LabelloopError(f"Reject needs a reason: one of {', '.join(REJECT_REASONS)}")
    return cmd


def parse_value(guideline: Guideline, data) -> LabelValue | None:
    """A label decision from JSON, with every label name checked against the guideline."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise LabelloopError("A label decision is an object: label, labels, spans or turns")
    if isinstance(data.get("turns"), dict):
        try:
            data = {**data, "turns": {int(k): v for k, v in data["turns"].items()}}
        except ValueError as exc:
            raise LabelloopError("Turn labels are keyed by turn number") from exc
    try:
        value = LabelValue.model_validate(data)
    except ValidationError as exc:
        raise LabelloopError(f"Not a label decision: {exc.errors()[0]['msg']}") from exc
    if guideline.kind in ("pairwise", "ranking"):  # reply ids: checked against the item later
        return value
    valid = guideline.label_names
    unknown = [n for n in value.names() if n not in valid]
    if unknown:
        raise LabelloopError(
            f"Unknown label {unknown[0]!r} for task {guideline.task!r} (guideline "
            f"{guideline.version}): valid labels are {', '.join(valid)}"
        )
    return value


def filters(text, label, route, min_conf, max_conf, reviewer, since, until) -> BrowseFilters:
    """Browser filters from the form; blank fields filter nothing; dates are YYYY-MM-DD."""
    return BrowseFilters(
        text=(text or "").strip() or None,
        label=label or None,
        route=route or None,
        # 0 and 100 are the form's defaults: no bound (items without a confidence match too)
        min_confidence=_percent(min_conf, 0),
        max_confidence=_percent(max_conf, 100),
        reviewer=(reviewer or "").strip() or None,
        since=_date(since),
        until=_date(until, end=True),
    )


def _picked(guideline: Guideline, label) -> dict:
    if guideline.kind == "multi":
        return {"labels": [label] if isinstance(label, str) else list(label)}
    return {"label": label if isinstance(label, str) else (list(label) or [None])[0]}


def _comment(comment) -> str | None:
    text = str(comment or "").strip()
    return text[:MAX_COMMENT] or None


def _duration(ms) -> int | None:
    try:
        return max(0, min(int(ms), 86_400_000))
    except (TypeError, ValueError):
        return None


def _percent(value, default: float) -> float | None:
    if value in (None, "") or float(value) == default:
        return None
    return float(value) / 100


def _date(text, end: bool = False) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise LabelloopError(f"Dates are YYYY-MM-DD, not {text!r}") from exc
    return day.replace(hour=23, minute=59, second=59) if end else day


def _ids(pairs) -> str:
    shown = ", ".join(i for i, _ in pairs[:20])
    return shown + (f" and {len(pairs) - 20} more" if len(pairs) > 20 else "")


def _status(who: str) -> str:
    return f'<div class="ll-status">{who}</div>'


def _zipped(path, files) -> Path:
    """The files written for ``path`` (one per question) in ``path`` + ``.zip``."""
    import zipfile

    out = path.with_name(path.name + ".zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, f.name)
    return out
