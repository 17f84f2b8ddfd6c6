"""Everything the console shows, as HTML built from escaped pieces.

Item text, turns, roles, rationales, guideline text, comments, labels, item ids and user
names are all data, never markup: each goes through :func:`esc` (or, for guideline
Markdown, through markdown-it with raw HTML and images off and only safe link schemes), so
no tag, script or remote image from the data reaches the page. Both write line breaks and
tabs as references: the HTML is one line, as ``labelloop.ui.markup`` needs.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable, Mapping, Sequence

from markdown_it import MarkdownIt

from labelloop.core.context import context_text
from labelloop.core.errors import LabelloopError
from labelloop.core.positions import to_shown
from labelloop.core.turns import labeled_turns
from labelloop.core.types import (
    JUDGE_KINDS,
    Guideline,
    Item,
    LabelValue,
    Message,
    Span,
    Suggestion,
)
from labelloop.review.judging import (
    describe,
    rationale_shown,
    reply_name,
    shown_order,
)
from labelloop.review.views import ADJUDICATION_QUEUE, BROWSER_QUEUE

#: raw HTML is escaped, images are not rendered, and markdown-it refuses javascript:,
#: vbscript:, file: and data: links
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")
KEYS = (
    ("a / Enter", "accept"),
    ("1-9", "pick label"),
    ("/", "search labels"),
    ("Enter", "save pick"),
    ("x", "reject"),
    ("Space", "skip"),
    ("Backspace", "undo"),
    ("g", "guideline"),
)
SPAN_KEYS = (
    ("n", "new span from selection"),
    ("[ / ]", "previous / next span"),
    (", / .", "span end -1 / +1"),
    ("< / >", "span start -1 / +1"),
    ("Delete", "remove span"),
)
TURN_KEYS = (("j / k", "next / previous turn"),)
#: keys of judging tasks (the replies are named by position: Reply 1, Reply 2, ...)
COMMON_KEYS = (
    ("Enter", "save"),
    ("a", "accept suggestion"),
    ("x", "reject"),
    ("Space", "skip"),
    ("Backspace", "undo"),
    ("g", "guideline"),
)
PAIRWISE_KEYS = (("1 / 2", "Reply 1 / Reply 2 is better"),)
TIE_KEYS = (("t or 0", "tie"),)
RATING_KEYS = (
    ("1-9", "rate the focused reply"),
    ("Tab / →", "next reply"),
    ("Shift+Tab / ←", "previous reply"),
)
RANKING_KEYS = (
    ("1-9", "next best reply: 2 1 3 ranks Reply 2 first"),
    ("r", "reset the order"),
)
REASON_TEXT = {
    "wrong_label": "wrong label",
    "guideline_unclear": "guideline unclear",
    "ambiguous_item": "ambiguous item",
    "bad_input": "bad input",
    "other": "other (comment)",
}


def esc(text: object) -> str:
    """Text as HTML text or attribute value, on one line: line breaks and tabs as references
    (the console's boxes take one line of HTML, see ``labelloop.ui.markup``)."""
    return one_line(html.escape(str(text), quote=True))


def breakable(text: object) -> str:
    """:func:`esc`, with a break allowed after each underscore: a long snake_case label
    wraps between its words, never inside one."""
    return esc(text).replace("_", "_<wbr>")


def one_line(markup: str) -> str:
    """HTML with its line breaks and tabs as references, which the browser reads back as
    the same characters (in text and attribute values; never put one inside a tag)."""
    return markup.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")


def markdown(text: str) -> str:
    """Guideline Markdown as HTML with raw HTML escaped and no images, on one line."""
    return one_line(_MD.render(text))


def value_text(value: LabelValue | None) -> str:
    """A label decision in words (escaped by the caller)."""
    return value.short() if value is not None else "—"


def answer_text(value: LabelValue | None, order: Sequence[str] | None = None) -> str:
    """A decision in words: a judging answer by position in ``order`` when given ("Reply 2"),
    else as :func:`value_text` says it (escaped by the caller)."""
    return describe(value, order) if order else value_text(value)


def percent(p: float | None) -> str:
    return "unknown" if p is None else f"{p:.0%}"


# --- the item ---------------------------------------------------------------------------


def item_html(view, stamp: str = "") -> str:
    """The leased item: text (with spans) or numbered turns; data attributes for the keys.

    ``stamp`` differs on every answer, so the page can tell a new answer from its own edits.
    """
    item: Item = view.item
    suggested = view.suggestion.value if view.suggestion is not None else None
    if view.start is not None:  # a decided item opened in the editor
        suggested = view.start
    judging = view.kind in JUDGE_KINDS
    if judging:  # the page names replies by position only
        suggested = _shown_or_none(suggested, view.order)
    data = {
        "item": item.id,
        "kind": view.kind,
        "unit": view.unit,
        "queue": view.queue,
        "v": stamp,
        "suggested": json.dumps(suggested.as_dict() if suggested is not None else None),
    }
    attrs = " ".join(f'data-{k}="{esc(v)}"' for k, v in data.items())
    blind = ' <span class="ll-badge">blind</span>' if view.blind else ""
    head = (
        f'<div class="ll-item-id">Item <code>{esc(item.id)}</code> · '
        f"queue <b>{esc(view.queue)}</b>{blind}</div>"
    )
    if view.question is not None:
        head += question_html(view)
    if view.queue in (BROWSER_QUEUE, ADJUDICATION_QUEUE):
        head += f'<div class="ll-msg ll-info ll-editing">{_editing(view)}</div>'
    head += context_html(view.context)
    spans = suggested.spans if suggested is not None and view.kind == "spans" else None
    body = body_html(item, spans, view.turn_role if view.unit == "turn" else None)
    if judging:
        body += replies_html(item, view.order, view.kind, view.labels)
    return f'<div class="ll-item" {attrs}>{head}{body}</div>'


def _editing(view) -> str:
    """The banner of an item opened in the editor: what the pick starts from."""
    keys = "Enter saves, Space leaves without saving."
    if view.queue == ADJUDICATION_QUEUE:
        return f"Adjudicating: the reviewers disagree; starting from the latest answer. {keys}"
    if view.start is None:
        return f"This item has no decision yet: your label is its first. {keys}"
    return f"Editing a decided item, starting from its final label: {keys}"


def question_html(view) -> str:
    """Which question of several the item is asked now, and the answers given so far
    (Backspace goes back to the last one)."""
    at = view.questions.index(view.question) + 1 if view.question in view.questions else 1
    done = "".join(
        f'<li><span class="ll-q-name">{esc(q)}</span> {esc(value_text(v))}</li>'
        for q, v, _, _ in view.answered
    )
    done = f'<ul class="ll-q-done" aria-label="answered">{done}</ul>' if done else ""
    return (
        f'<div class="ll-question" data-question="{esc(view.question)}">Question {at} of '
        f"{len(view.questions)}: <b>{esc(view.question)}</b>{done}</div>"
    )


def _shown_or_none(value: LabelValue | None, order: Sequence[str]) -> LabelValue | None:
    """``value`` by position; None when it names a reply the item does not have."""
    try:
        return to_shown(value, order)
    except LabelloopError:
        return None


def replies_html(
    item: Item,
    order: Sequence[str],
    kind: str = "pairwise",
    scale: Sequence[str] = (),
    ids: bool = False,
) -> str:
    """A judging item's replies as a row of cards in ``order``, titled by position ("Reply
    1"); for a rating task each card has a button per value of the scale. Who wrote a reply
    is never shown; its id only with ``ids`` (admins in the item browser, whose answers
    there are written as reply ids)."""
    by_id = {r.id: r for r in item.replies or ()}
    replies = [by_id[rid] for rid in order if rid in by_id]
    cards = []
    for n, reply in enumerate(replies, 1):
        if reply.messages is not None:
            turns = "".join(
                turn_html(i, m.role, m.content, False, message=m)
                for i, m in enumerate(reply.messages)
            )
            content = f'<ol class="ll-turns">{turns}</ol>'
        else:
            content = f'<div class="ll-content">{esc(reply.content or "")}</div>'
        rate = ""
        if kind == "rating":
            buttons = "".join(
                f'<button type="button" class="ll-rate" data-pos="{n}" data-value="{esc(v)}" '
                f'title="{esc(f"{reply_name(n)}: {v}")}">{_rate_key(k, v)}{esc(v)}</button>'
                for k, v in enumerate(scale, 1)
            )
            rate = (
                f'<div class="ll-scale" role="group" aria-label="rate {reply_name(n)}">'
                f"{buttons}</div>"
            )
        rid = f' <small class="ll-reply-id">reply id {esc(reply.id)}</small>' if ids else ""
        cards.append(
            f'<div class="ll-reply" data-pos="{n}"><div class="ll-reply-head">'
            f'<span class="ll-reply-name">{reply_name(n)}</span>{rid}'
            '<span class="ll-reply-mark" aria-live="polite"></span></div>'
            f'<div class="ll-reply-body">{content}</div>{rate}</div>'
        )
    cls = f"ll-replies ll-replies-{min(len(cards), 6)}"
    return f'<div class="{cls}" data-n="{len(cards)}">{"".join(cards)}</div>'


def _rate_key(key: int, value: str) -> str:
    """The key of a scale value, on its button when it is not the value itself."""
    return f"<kbd>{key}</kbd> " if key <= 9 and str(key) != str(value) else ""


def context_html(context: Sequence[tuple[str, object]]) -> str:
    """The item's context fields (a guideline's ``context:``), each labelled with its name:
    a text value as it is, any other as compact JSON; empty when the item has none."""
    if not context:
        return ""
    rows = "".join(
        f'<div class="ll-context-field" data-field="{esc(name)}"><dt>{esc(name)}</dt>'
        f"<dd>{esc(context_text(value))}</dd></div>"
        for name, value in context
    )
    return f'<dl class="ll-context" aria-label="context">{rows}</dl>'


def body_html(item: Item, spans: Sequence[Span] | None = None, turn_role: str | None = None) -> str:
    """The item's text or transcript, escaped; spans marked when given; with ``turn_role``
    (``unit: turn``), the turns it labels marked for the keys' turn cursor."""
    if item.messages is None:
        text = item.text or ""
        return f'<div class="ll-text" data-text="{esc(text)}">{spans_html(text, spans or ())}</div>'
    labelable = set(labeled_turns(item.messages, turn_role)) if turn_role else set()
    turns = "".join(
        turn_html(i, m.role, m.content, i == item.target_turn, i in labelable, m)
        for i, m in enumerate(item.messages)
    )
    return f'<ol class="ll-turns">{turns}</ol>'


def spans_html(text: str, spans: Iterable[Span]) -> str:
    """The text with each span in a ``<mark>`` (overlaps: the first wins); CSS shows labels.

    The mark holds only the span's text, so the element's text stays the item's text and
    offsets taken from a selection in the page count the same characters.
    """
    out, at = [], 0
    for n, s in enumerate(sorted(spans, key=lambda s: (s.start, s.end))):
        if s.start < at or s.end > len(text) or s.start >= s.end:
            continue
        out.append(esc(text[at : s.start]))
        out.append(
            f'<mark class="ll-span" data-i="{n}" data-start="{s.start}" data-end="{s.end}" '
            f'data-label="{esc(s.label)}">{esc(text[s.start : s.end])}</mark>'
        )
        at = s.end
    out.append(esc(text[at:]))
    return "".join(out)


def turn_html(
    index: int,
    role: str,
    content: str,
    target: bool,
    labelable: bool = False,
    message: Message | None = None,
) -> str:
    """One transcript turn: number, role (and speaker's name) and content, the target turn
    marked; ``labelable`` marks a turn that a per-turn guideline labels (the keys move
    between those). A tool's result and an assistant's tool calls are shown folded: a
    reviewer opens them when they matter."""
    classes = "ll-turn" + (" ll-target" if target else "")
    marker = '<span class="ll-target-mark">label this turn</span>' if target else ""
    flag = ' data-labelable="1"' if labelable else ""
    name = message.name if message is not None else None
    who = esc(role) + (f' <span class="ll-speaker">{esc(name)}</span>' if name else "")
    body = f'<div class="ll-content">{esc(content)}</div>'
    if message is not None and role.lower() in ("tool", "function", "ipython"):
        call = f" · call {message.tool_call_id}" if message.tool_call_id else ""
        body = (
            f'<details class="ll-tool"><summary>tool result{esc(call)} '
            f"({len(content):,} characters)</summary>{body}</details>"
        )
        classes += " ll-tool-turn"
    elif message is not None and message.tool_calls:
        calls = "".join(
            f'<details class="ll-tool"><summary>tool call <code>{esc(c.name)}</code>'
            f"{esc(f' · {c.id}' if c.id else '')}</summary>"
            f'<pre class="ll-args">{esc(c.arguments)}</pre></details>'
            for c in message.tool_calls
        )
        body = (body if content else "") + calls
    return (
        f'<li class="{classes}" data-turn="{index}" data-role="{esc(role.lower())}"{flag}>'
        f'<div class="ll-turn-head"><span class="ll-turn-no">#{index}</span> '
        f'<span class="ll-role">{who}</span>{marker}'
        '<span class="ll-turn-label"></span></div>'
        f"{body}</li>"
    )


# --- beside the item --------------------------------------------------------------------


def side_html(view) -> str:
    """Suggestion, confidence, rationale, cited guideline section and similar examples."""
    judging = view.reviewer if view.kind in JUDGE_KINDS else None
    return (
        f'<div class="ll-side">{suggestion_html(view)}{section_html(view.section)}'
        f"{similar_html(view.similar, judging)}</div>"
    )


def suggestion_html(view) -> str:
    if view.blind:
        return (
            '<div class="ll-suggestion ll-blind"><b>Shown blind.</b> The model\'s suggestion '
            "is hidden for this item so that your label is independent of it.</div>"
        )
    s: Suggestion | None = view.suggestion
    if s is None:
        return '<div class="ll-suggestion ll-none">No model suggestion for this item.</div>'
    if s.value is None:
        reason = esc(s.error or "no usable label")
        return f'<div class="ll-suggestion ll-failed">The model gave no label: {reason}</div>'
    kind = "calibrated" if s.calibrated is not None else "model's own"
    said = answer_text(s.value, view.order)
    rows = (
        ("Suggestion", f'<span class="ll-label">{esc(said)}</span>'),
        ("Confidence", f"{esc(percent(view.confidence))} <small>({kind})</small>"),
        ("Model", esc(s.model)),
    )
    cells = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    rationale = esc(view.rationale) if view.rationale else "<i>no rationale given</i>"
    return (
        f'<div class="ll-suggestion"><table>{cells}</table>'
        f'<div class="ll-rationale">{rationale}</div></div>'
    )


def section_html(section, whole: bool = True) -> str:
    """A guideline section; ``whole``: with the hint of the key that opens the guideline."""
    if section is None:
        return ""
    hint = " <small>(g: whole guideline)</small>" if whole else ""
    return (
        f'<div class="ll-section"><div class="ll-section-head">Guideline · '
        f"{esc(section.heading)}{hint}</div>"
        f'<div class="ll-md">{markdown(section.text)}</div></div>'
    )


def similar_html(similar: Sequence, judging: str | None = None) -> str:
    """Reviewed items like this one, with their labels; for a judging task (``judging``:
    the reviewer) each answer by position in that reviewer's order of the example's replies."""
    if not similar:
        return ""

    def said(ex) -> str:
        if judging is None:
            return value_text(ex.value)
        return describe(ex.value, shown_order(ex.item.id, judging, ex.item.reply_ids))

    rows = "".join(
        f'<li><span class="ll-label">{esc(said(ex))}</span> '
        f'<span class="ll-preview">{esc(preview(ex.item))}</span> '
        f"<small>({esc(ex.reviewer)}, {ex.similarity:.2f})</small></li>"
        for ex in similar
    )
    head = '<div class="ll-section-head">Similar reviewed</div>'
    return f'<div class="ll-similar">{head}<ol>{rows}</ol></div>'


def preview(item: Item, n: int = 160) -> str:
    text = item.render_plain().replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


# --- static panels ----------------------------------------------------------------------


def picker_html(guideline: Guideline, reasons: Sequence[str]) -> str:
    """The label list with type-ahead, the reject reasons, and the keys on screen."""
    if guideline.judges:
        return judge_picker_html(guideline, reasons)
    labels = "".join(
        f'<li class="ll-opt" data-label="{esc(name)}"><kbd></kbd>'
        f"<span>{breakable(name)}</span></li>"
        for name in guideline.label_names
    )
    keys = KEYS + (SPAN_KEYS if guideline.kind == "spans" else ())
    keys += TURN_KEYS if guideline.unit == "turn" else ()
    legend = legend_html(keys)
    return (
        f'<div class="ll-picker" data-kind="{esc(guideline.kind)}" '
        f'data-unit="{esc(guideline.unit)}">'
        '<div class="ll-picked">Your pick: <b id="ll-pick">—</b></div>'
        # the buttons first: however long the label list, they stay in view
        f"{_BUTTONS}{_reject_html(reasons)}"
        '<input id="ll-search" type="search" autocomplete="off" spellcheck="false" '
        'placeholder="/ search labels, Enter picks the first" aria-label="search labels">'
        f'<ol class="ll-labels" id="ll-labels">{labels}</ol>'
        f'<ul class="ll-keys" id="ll-keys">{legend}</ul></div>'
    )


def legend_html(keys: Sequence[tuple[str, str]]) -> str:
    """The keys on screen; the accept key is marked, so the page can hide it on an item
    with nothing to accept."""
    return "".join(
        f"<li{_ACCEPT_KEY if what.startswith('accept') else ''}><kbd>{esc(k)}</kbd> "
        f"{esc(what)}</li>"
        for k, what in keys
    )


_ACCEPT_KEY = ' data-ll-key="accept"'


def judge_picker_html(guideline: Guideline, reasons: Sequence[str]) -> str:
    """A judging task's panel: the answer so far (by position), the reject reasons, the
    buttons and the keys of its kind."""
    kind = guideline.kind
    if kind == "pairwise":
        keys = PAIRWISE_KEYS + (TIE_KEYS if guideline.allow_tie else ())
        what, buttons = "Better reply", _pairwise_buttons(guideline.allow_tie)
    elif kind == "rating":
        keys, what, buttons = RATING_KEYS, "Your ratings", ""
    else:
        keys, what, buttons = RANKING_KEYS, "Your order (best first)", _RESET_BUTTON
    legend = legend_html(keys + COMMON_KEYS)
    tie = ' data-tie="1"' if guideline.allow_tie else ""
    return (
        f'<div class="ll-picker ll-judge" data-kind="{esc(kind)}" '
        f'data-unit="{esc(guideline.unit)}"{tie}>'
        f'<div class="ll-picked">{esc(what)}: <b id="ll-pick">—</b></div>{buttons}'
        f"{_reject_html(reasons)}{_BUTTONS}"
        f'<ul class="ll-keys" id="ll-keys">{legend}</ul></div>'
    )


def _reject_html(reasons: Sequence[str]) -> str:
    reason_items = "".join(
        f'<li data-reason="{esc(r)}"><kbd>{n}</kbd> {esc(REASON_TEXT.get(r, r))}</li>'
        for n, r in enumerate(reasons, 1)
    )
    return (
        '<div class="ll-reject" id="ll-reject" hidden><b>Reject: why?</b> '
        f'<small class="ll-sub">(1-{len(reasons)} picks a reason, Esc cancels)</small>'
        f'<ol class="ll-reasons">{reason_items}</ol>'
        '<textarea id="ll-comment" rows="2" maxlength="2000" '
        'placeholder="comment (Enter saves, Esc cancels)" aria-label="comment"></textarea>'
        "</div>"
    )


def _pairwise_buttons(tie: bool) -> str:
    picks = [("1", "Reply 1 (1)"), ("2", "Reply 2 (2)")] + ([("tie", "Tie (t)")] if tie else [])
    buttons = "".join(
        f'<button type="button" data-ll-pick="{p}">{text}</button>' for p, text in picks
    )
    return f'<div class="ll-buttons ll-choice">{buttons}</div>'


_RESET_BUTTON = (
    '<div class="ll-buttons ll-choice">'
    '<button type="button" data-ll-action="reset">Reset order (r)</button></div>'
)


_BUTTONS = (
    '<div class="ll-buttons">'
    + "".join(
        f'<button type="button" data-ll-action="{act}" class="{cls}">{text}</button>'
        for act, text, cls in (
            ("accept", "Accept (a)", "ll-primary"),
            ("submit", "Save pick (Enter)", ""),
            ("reject", "Reject (x)", ""),
            ("skip", "Skip (Space)", ""),
            ("undo", "Undo (Backspace)", ""),
            ("guideline", "Guideline (g)", ""),
        )
    )
    + "</div>"
)


def guideline_html(guideline: Guideline) -> str:
    """The whole guideline (without its front matter), as safe Markdown."""
    text = guideline.text
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            text = text[end + 5 :]
    body = markdown(text.strip()) if text.strip() else "<p><i>The guideline has no text.</i></p>"
    return (
        f'<div class="ll-guideline ll-md" id="ll-guideline-body">'
        f'<div class="ll-section-head">Guideline · {esc(guideline.task)} '
        f"<small>(g or Esc closes)</small></div>{body}</div>"
    )


def message_html(text: str, kind: str = "info", item: str | None = None) -> str:
    """A message; ``item``: the item it is about, so the page can drop it with that item."""
    return message_html_raw(esc(text), kind, item)


def message_html_raw(html: str, kind: str = "info", item: str | None = None) -> str:
    """A message whose HTML the caller built (every value in it escaped already)."""
    about = f' data-item="{esc(item)}"' if item is not None else ""
    return f'<div class="ll-msg ll-{esc(kind)}"{about}>{html}</div>'


# --- admin views ------------------------------------------------------------------------


def answers_html(
    item: Item,
    suggestion: Suggestion | None,
    answers: Sequence,
    order: Sequence[str] | None = None,
    by_id: bool = False,
) -> str:
    """Adjudication / item detail: the item, the suggestion and every answer side by side.

    A judging item (``order``: its reply ids as this viewer sees them) shows its replies
    in that order and each answer by position ("Reply 2"); with ``by_id`` (admins in the
    item browser) answers are written as values (reply ids) and each card names its id."""

    def say(value: LabelValue | None) -> str:
        return value_text(value) if by_id or not order else describe(value, order)

    cards = []
    if suggestion is not None:
        cards.append(
            _card(
                f"model · {esc(suggestion.model)}",
                breakable(say(suggestion.value)),
                esc(
                    rationale_shown(suggestion.rationale or "", item, order)
                    if order
                    else suggestion.rationale or ""
                ),
                "ll-card-model",
            )
        )
    for a in answers:
        note = " · ".join(
            x
            for x in (
                esc(REASON_TEXT.get(a.reason, a.reason)) if a.reason else "",
                esc(a.comment) if a.comment else "",
            )
            if x
        )
        blind = " · blind" if a.blind else ""
        head = f"{esc(a.reviewer)} · {esc(a.action)}{blind} · #{a.review_id}"
        cards.append(_card(head, breakable(say(a.value)), note, "ll-card-answer"))
    body = body_html(item)
    if order:
        body += replies_html(item, order, "", (), ids=by_id)
    return (
        f'<div class="ll-adjudicate"><div class="ll-item">{body}</div>'
        f'<div class="ll-cards">{"".join(cards)}</div></div>'
    )


def _card(head: str, value: str, note: str, cls: str) -> str:
    return (
        f'<div class="ll-card {cls}"><div class="ll-card-head">{head}</div>'
        f'<div class="ll-label">{value}</div><div class="ll-card-note">{note}</div></div>'
    )


def browse_html(page) -> str:
    """A page of the item browser as a table; rows carry their item id for opening. The
    confidence is written under the suggestion and the reviewers under the label, so a row
    stays two lines high beside the opened item."""
    if not page.rows:
        return message_html("No items match these filters.")
    cols = "".join(f'<col class="ll-c-{c}">' for c in _BROWSE_COLUMNS)
    head = "".join(f"<th>{h}</th>" for h in _BROWSE_COLUMNS)
    rows = "".join(
        f'<tr class="ll-row" data-item="{esc(r.item_id)}">'
        f'<td title="{esc(r.item_id)}"><code>{esc(r.item_id)}</code></td>'
        f'<td><div class="ll-clip">{esc(r.preview)}</div></td>'
        f"<td>{esc(r.route)}</td>"
        f"<td>{_under(r.suggested, None if r.confidence is None else percent(r.confidence))}</td>"
        f"<td>{_under(r.label, ', '.join(r.reviewers))}</td>"
        f"{_when_cell(r.updated_at)}</tr>"
        for r in page.rows
    )
    more = "+" if page.total_capped else ""
    first = page.page * page.page_size + 1
    summary = (
        f'<div class="ll-browse-summary">{page.total}{more} items · showing '
        f"{first}-{first + len(page.rows) - 1} · click a row to open it</div>"
    )
    return (
        f'{summary}<table class="ll-browse"><colgroup>{cols}</colgroup>'
        f"<tr>{head}</tr>{rows}</table>"
    )


_BROWSE_COLUMNS = ("item", "text", "route", "suggested", "label", "updated")


def _under(label: str | None, note: str | None) -> str:
    """A cell: a label, with a small note under it when there is one."""
    sub = f'<div class="ll-sub">{esc(note)}</div>' if note else ""
    return f"{breakable(label or '')}{sub}"


def _when_cell(at) -> str:
    """When a row changed, short (month, day, time) with the full UTC time on hover."""
    if at is None:
        return "<td></td>"
    return f'<td title="{at:%Y-%m-%d %H:%M} UTC">{at:%m-%d %H:%M}</td>'


def detail_html(detail, order: Sequence[str] | None = None, by_id: bool = False) -> str:
    """One item in the browser: route, final label, gold, and every suggestion and answer
    (a judging item's by position in ``order``, or with ``by_id`` as values, for admins)."""
    latest = detail.suggestions[-1] if detail.suggestions else None

    def say(value: LabelValue | None) -> str:
        return value_text(value) if by_id or not order else describe(value, order)

    facts = (
        (
            "route",
            f"{detail.route} ({detail.route_reason})" if detail.route_reason else detail.route,
        ),
        ("final", f"{say(detail.final)} ({detail.final_source or 'none'})"),
    ) + ((("gold", say(detail.gold)),) if detail.gold is not None else ())
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    return (
        f'<div class="ll-detail" data-item="{esc(detail.item.id)}">'
        f'<div class="ll-item-id">Item <code>{esc(detail.item.id)}</code></div>'
        f"{context_html(detail.context)}<table>{rows}</table>"
        f"{answers_html(detail.item, latest, detail.answers, order, by_id)}</div>"
    )


def webhooks_html(hooks: Sequence[tuple]) -> str:
    """The webhooks, each with a word on its secret in this process, as a table, escaped."""
    if not hooks:
        return '<div class="ll-none">No webhooks yet.</div>'
    rows = [
        {
            "id": h.id,
            "url": h.url,
            "events": ", ".join(h.events),
            "secret": f"{h.secret_env} ({said})",
            "state": "live" if h.live else f"disabled: {h.disabled_reason}",
            "added": f"{h.created_at:%Y-%m-%d %H:%M} {h.created_by or ''}".strip(),
        }
        for h, said in hooks
    ]
    return f'<div class="ll-dashboard"><h3>Webhooks</h3>{records_html(rows)}</div>'


def deliveries_html(deliveries: Sequence) -> str:
    """The delivery log: each delivery, newest first, with its last attempt, escaped."""
    if not deliveries:
        return '<div class="ll-none">No deliveries yet.</div>'
    rows = []
    for d in deliveries:
        last = d.log[-1] if d.log else None
        rows.append(
            {
                "delivery": d.uid,
                "webhook": d.webhook_id,
                "event": d.kind,
                "status": d.status,
                "attempts": d.attempts,
                "last answer": "" if last is None else (last.status_code or "none"),
                "last error": d.last_error or "",
                "at": "" if last is None else f"{last.at:%Y-%m-%d %H:%M:%S}",
            }
        )
    return f'<div class="ll-dashboard"><h3>Deliveries</h3>{records_html(rows)}</div>'


def _title(key: object) -> str:
    return str(key).replace("_", " ").capitalize()


def value_html(value: object, title: Callable[[object], str] = _title) -> str:
    """A value as HTML: a mapping as a key/value table, a list of mappings as a table, a
    scalar as text; keys shown through ``title`` (``str``: as they are); escaped."""
    if isinstance(value, Mapping):
        if not value:
            return "<i>none</i>"
        rows = "".join(
            f"<tr><th>{esc(title(k))}</th><td>{value_html(v, title)}</td></tr>"
            for k, v in value.items()
        )
        return f'<table class="ll-kv">{rows}</table>'
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, Mapping) for v in value):
            return records_html(value, title)
        return esc(", ".join(_scalar(v) for v in value)) or "<i>none</i>"
    return esc(_scalar(value))


def records_html(records: Sequence[Mapping], title: Callable[[object], str] = _title) -> str:
    """Mappings as the rows of one table, a column per key (shown through ``title``)."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    head = "".join(f"<th>{esc(title(k))}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{value_html(r.get(k, ''), title)}</td>" for k in keys) + "</tr>"
        for r in records
    )
    return f'<table class="ll-records"><tr>{head}</tr>{body}</table>'


def _scalar(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if v == v else "n/a"
    if v is None:
        return "n/a"
    return str(v)
