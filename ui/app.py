"""The Gradio review console: review stream, item browser, adjudication, lead's dashboard.

The review tab is driven by ``ui/static/console.js``: keys build up a decision in the page
(the pick, spans, turn labels, a reject reason) and send it as one JSON command through a
hidden textbox and button. Every event handler goes through ``labelloop.ui.handlers.Console``,
which finds the account behind the request again and checks its role.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import gradio as gr
import sqlalchemy as sa

from labelloop.core.errors import AccessDenied, LabelloopError
from labelloop.core.events import EVENT_TYPES
from labelloop.review.judging import pick_choices
from labelloop.review.service import REJECT_REASONS
from labelloop.ui import render
from labelloop.ui.handlers import ROUTES, AuthError, Console, Screen, filters
from labelloop.ui.markup import error, markup

log = logging.getLogger(__name__)
#: concurrent runs of each event: reviewers must not wait for one another
CONCURRENCY = 32
#: what a reviewer reads when the store fails; its SQL and parameters go to the log only
STORE_FAILED = "The store did not answer (busy or unreachable), so nothing changed: try again."
EXPORT_FORMATS = ["jsonl", "csv", "labelstudio", "hf", "conll"]
NOTHING_TO_ADJUDICATE = render.message_html(
    "Nothing is waiting for adjudication: items come here when the reviewers of an overlap "
    "item disagree."
)

CSS = """
.ll-item { font-size: 1.05rem; line-height: 1.55; padding: .8rem 1rem; border-radius: .5rem;
  border: 1px solid var(--border-color-primary); background: var(--block-background-fill); }
.ll-item-id, .ll-status, .ll-browse-summary { color: var(--body-text-color-subdued);
  font-size: .85rem; margin-bottom: .4rem; }
.ll-badge { background: #7c3aed; color: #fff; border-radius: .3rem; padding: 0 .35rem; }
.ll-text, .ll-content, .ll-rationale, .ll-card-note { white-space: pre-wrap;
  overflow-wrap: anywhere; }
.ll-turns { list-style: none; padding: 0; margin: 0; }
.ll-turn { border-left: 3px solid var(--border-color-primary); padding: .3rem .6rem;
  margin-bottom: .4rem; }
.ll-turn.ll-target { border-left-color: var(--color-accent);
  background: var(--color-accent-soft); }
.ll-turn.ll-active { outline: 2px solid #2563eb; }
.ll-turn-head { font-size: .8rem; color: var(--body-text-color-subdued); }
.ll-role { font-weight: 600; text-transform: uppercase; }
.ll-question { margin: .2rem 0 .5rem; font-size: .95rem; }
.ll-q-done { list-style: none; padding: 0; margin: .2rem 0 0; font-size: .85rem;
  color: var(--body-text-color-subdued); }
.ll-q-name { font-weight: 600; margin-right: .3rem; }
.ll-context { margin: 0 0 .5rem; font-size: .9rem; display: grid; gap: .1rem; }
.ll-context-field { display: flex; gap: .5rem; }
.ll-context dt { font-weight: 600; color: var(--body-text-color-subdued); }
.ll-context dd { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.ll-speaker { font-weight: 400; text-transform: none; margin-left: .3rem; }
.ll-tool-turn { border-left-style: dashed; }
.ll-tool summary { cursor: pointer; font-size: .85rem; color: var(--body-text-color-subdued); }
.ll-tool .ll-args { white-space: pre-wrap; overflow-wrap: anywhere; margin: .2rem 0; }
.ll-target-mark { margin-left: .5rem; color: var(--color-accent); font-weight: 600; }
.ll-turn-label { margin-left: .6rem; font-weight: 700; color: #1d4ed8; }
mark.ll-span { background: #fde68a; border-radius: .2rem; padding: 0 .1rem; }
mark.ll-span::after { content: attr(data-label); font-size: .65rem; vertical-align: super;
  margin-left: .15rem; color: #92400e; }
mark.ll-span.ll-sel { outline: 2px solid #2563eb; }
.ll-suggestion table, .ll-detail table { width: 100%; }
.ll-suggestion th, .ll-detail th { text-align: left; width: 7rem; white-space: nowrap; }
.ll-label { font-weight: 700; }
.ll-blind, .ll-empty, .ll-none, .ll-failed { padding: .6rem; border-radius: .4rem;
  background: var(--block-background-fill); }
.ll-section, .ll-similar { margin-top: .6rem; font-size: .9rem; }
.ll-section-head { font-weight: 600; color: var(--body-text-color-subdued); }
.ll-picked { margin-bottom: .3rem; }
#ll-search { width: 100%; padding: .35rem .5rem; margin-bottom: .3rem; }
.ll-labels { list-style: none; padding: 0 .1rem; margin: 0; font-size: .85rem;
  display: grid; grid-template-columns: repeat(auto-fill, minmax(11.5rem, 1fr)); gap: .1rem .4rem;
  max-height: max(8rem, calc(100vh - 25rem)); overflow-y: auto; overflow-x: hidden; }
/* while a reject reason is picked (by its digit) the labels make way for the reasons */
.ll-picker:has(#ll-reject:not([hidden])) :is(.ll-labels, #ll-search, .ll-keys) {
  display: none; }
.ll-opt { display: flex; gap: .3rem; align-items: baseline; min-width: 0; padding: .05rem .3rem;
  border-radius: .25rem; cursor: pointer; }
.ll-opt > span { min-width: 0; overflow-wrap: anywhere; }
.ll-opt[hidden], .ll-keys li[hidden], .ll-picker.ll-idle { display: none; }
.ll-opt.ll-on { background: #dbeafe; font-weight: 700; }
.ll-opt.ll-hi { outline: 1px dashed #2563eb; }
.ll-opt kbd:empty { display: none; }
.ll-reasons { list-style: none; padding: 0; }
.ll-reasons li.ll-on { font-weight: 700; }
#ll-comment { width: 100%; }
.ll-keys { list-style: none; padding: 0; margin: .6rem 0 0; display: flex; flex-wrap: wrap;
  gap: .2rem .8rem; font-size: .8rem; color: var(--body-text-color-subdued); }
kbd { border: 1px solid var(--border-color-primary); border-radius: .25rem;
  padding: 0 .3rem; font-size: .8em; background: var(--background-fill-secondary); }
.ll-buttons { display: flex; gap: .4rem; margin-top: .5rem; flex-wrap: wrap; }
.ll-buttons button { padding: .2rem .6rem; border-radius: .35rem; cursor: pointer;
  font-size: .85rem; font-weight: 500; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); }
.ll-buttons > button, .ll-scale > button { margin: 0; }
.ll-buttons button.ll-primary { background: var(--button-primary-background-fill);
  color: var(--button-primary-text-color); }
#ll-guideline { position: fixed !important; top: 4vh; bottom: 4vh; left: 6vw; right: 6vw;
  width: auto !important; max-width: none !important; min-width: 0 !important; margin: 0;
  box-sizing: border-box; z-index: 1000; overflow: auto; overflow-wrap: anywhere;
  background: var(--background-fill-primary); border: 1px solid var(--border-color-primary);
  border-radius: .6rem; padding: 1rem 1.5rem; box-shadow: 0 6px 30px rgba(0,0,0,.3); }
#ll-guideline.ll-closed { display: none; }
#ll-guideline code { white-space: normal; overflow-wrap: anywhere; }
/* the decision stays beside the item while a long item scrolls */
#ll-decide { position: sticky; top: .5rem; align-self: flex-start; }
#ll-review-row, #ll-browse-row, #ll-adj-row { align-items: flex-start; }
.ll-form-row { gap: .5rem; }
#ll-f-row2 { align-items: flex-end; } #ll-f-row2 > button { margin-bottom: .6rem; }
/* a note box with nothing to say takes no room */
#ll-browse-note:has(.md:empty), #ll-change-note:has(.md:empty), #ll-adj-note:has(.md:empty) {
  display: none; }
/* long lists scroll inside their panel, the page stays put */
#ll-browse-left, #ll-browse-right { height: max(24rem, calc(100vh - 8.5rem)); flex-wrap: nowrap; }
#ll-browse.ll-scroll, #ll-detail.ll-scroll { flex: 1 1 0; min-height: 6rem; overflow: auto; }
/* fixed columns: labels break between their words (after an underscore), ids and times
   stay on one line, the text takes the rest */
.ll-browse { table-layout: fixed; }
.ll-c-item { width: 5.5rem; } .ll-c-route { width: 7.4rem; } .ll-c-suggested,
.ll-c-label { width: 8.6rem; } .ll-c-updated { width: 6.5rem; }
.ll-browse td, .ll-card .ll-label { overflow-wrap: break-word; word-break: normal; }
.ll-browse td { vertical-align: top; }
.ll-browse th, .ll-browse td:first-child, .ll-browse td:nth-child(3),
.ll-browse td:last-child { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.ll-sub { font-size: .75rem; color: var(--body-text-color-subdued); }
.ll-clip { display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
  overflow: hidden; }
#ll-adj-view.ll-scroll { max-height: calc(100vh - 9rem); overflow: auto; }
#ll-dash-bar { align-items: center; }
#ll-dash-body.ll-scroll { max-height: calc(100vh - 11.5rem); overflow: auto; flex-wrap: nowrap; }
#ll-dash-body > * { flex-shrink: 0; }
.ll-msg { padding: .3rem .6rem; border-radius: .35rem; margin: .3rem 0; }
.ll-msg.ll-error { background: #fee2e2; } .ll-msg.ll-warn { background: #fef3c7; }
.ll-msg.ll-info { background: #e0f2fe; }
.ll-flash { position: fixed; left: 50%; bottom: 1.5rem; transform: translateX(-50%);
  z-index: 1001; max-width: min(90vw, 48rem); box-shadow: 0 4px 16px rgba(0,0,0,.25); }
.ll-browse { width: 100%; font-size: .85rem; border-collapse: collapse; }
.ll-browse td, .ll-browse th { border-bottom: 1px solid var(--border-color-primary);
  padding: .2rem .4rem; text-align: left; }
.ll-row { cursor: pointer; } .ll-row:hover { background: var(--background-fill-secondary); }
.ll-cards { display: flex; gap: .6rem; flex-wrap: wrap; margin-top: .6rem; }
.ll-card { flex: 1 1 12rem; border: 1px solid var(--border-color-primary); border-radius: .4rem;
  padding: .5rem; }
.ll-card-model { border-style: dashed; }
.ll-card-head { font-size: .8rem; color: var(--body-text-color-subdued); }
.ll-replies { display: grid; gap: .6rem; margin-top: .7rem;
  grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); }
.ll-replies-1 { grid-template-columns: minmax(0, 1fr); }
.ll-replies-2 { grid-template-columns: repeat(2, minmax(0, 1fr)); }
.ll-replies-3 { grid-template-columns: repeat(3, minmax(0, 1fr)); }
.ll-replies-4 { grid-template-columns: repeat(4, minmax(0, 1fr)); }
.ll-reply { display: flex; flex-direction: column; min-width: 0; padding: .5rem .7rem;
  border: 1px solid var(--border-color-primary); border-radius: .45rem;
  background: var(--background-fill-primary); }
.ll-reply-head { display: flex; align-items: baseline; gap: .5rem; margin-bottom: .3rem;
  font-size: .9rem; font-weight: 700; cursor: pointer; user-select: none; }
.ll-reply-id { font-weight: 400; color: var(--body-text-color-subdued); }
.ll-reply-mark { margin-left: auto; color: #1d4ed8; white-space: nowrap; }
.ll-reply-body { flex: 1; max-height: 55vh; overflow-y: auto; overflow-wrap: anywhere; }
.ll-reply-body .ll-turns { font-size: .95rem; }
.ll-reply.ll-on { border-color: #2563eb; box-shadow: inset 0 0 0 2px #2563eb;
  background: #eff6ff; }
.ll-reply.ll-tie { border-color: #7c3aed; border-style: dashed; }
.ll-reply.ll-focus { outline: 3px solid #2563eb; outline-offset: 1px; }
.ll-scale { display: flex; flex-wrap: wrap; gap: .25rem; margin-top: .5rem; }
.ll-rate { min-width: 2.1rem; padding: .15rem .45rem; border-radius: .3rem; cursor: pointer;
  font-size: .85rem; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); }
.ll-rate.ll-on, .ll-choice button.ll-on { background: #2563eb; color: #fff; }
.ll-judge .ll-picked { font-size: 1rem; }
.ll-dashboard table { border-collapse: collapse; font-size: .85rem; }
.ll-dashboard th, .ll-dashboard td { border-bottom: 1px solid var(--border-color-primary);
  padding: .15rem .5rem; text-align: left; vertical-align: top; }
.ll-tiles { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: .5rem; }
.ll-tile { border: 1px solid var(--border-color-primary); border-radius: .5rem;
  padding: .4rem .6rem; min-width: 0; }
.ll-tile-title { font-size: .75rem; color: var(--body-text-color-subdued); }
.ll-tile-big { font-size: 1.5rem; font-weight: 700; line-height: 1.2; }
.ll-tile-small { font-size: .75rem; overflow-wrap: anywhere; }
.ll-tile.ll-alarm { border-color: #dc2626; background: #fef2f2; color: #991b1b; }
.ll-dash-guarantee { font-size: .85rem; margin: .4rem 0; }
.ll-dash-plots { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: .5rem; }
.ll-dash-plots img, .ll-plots img { max-width: 100%; height: auto; }
.ll-dash-plots figure, .ll-plots figure { margin: 0; }
.ll-dash-plots figcaption, .ll-dash-note { font-size: .75rem;
  color: var(--body-text-color-subdued); }
"""


def build_app(project, accounts, service=None, files=None) -> gr.Blocks:
    """The console for ``project``; ``accounts`` finds the user behind each request;
    ``files`` is where exports are written (``labelloop.ui.files.ConsoleFiles``)."""
    console = Console(project, accounts, service, files)
    g = console.guideline
    with gr.Blocks(title=f"labelloop review: {g.task}", analytics_enabled=False) as app:
        markup(
            f'<div class="ll-top"><b>labelloop review · {render.esc(g.task)}</b> · '
            '<a href="/logout" id="ll-logout">Log out</a></div>'
        )
        with gr.Tabs() as tabs:
            with gr.Tab("Review", id="review"):
                review_out = _review_tab(console)
            # editing a decided item happens in the review tab's editor
            editor = [*review_out, tabs]
            with gr.Tab("Browse", id="browse") as browse_tab:
                bulk = _browse_tab(console, editor, browse_tab)
            with gr.Tab("Adjudicate", id="adjudicate", visible=False) as adj_tab:
                _adjudicate_tab(console, editor, adj_tab)
            with gr.Tab("Dashboard", id="dashboard", visible=False) as dash_tab:
                _dashboard_tab(console, dash_tab)
            with gr.Tab("Webhooks", id="webhooks", visible=False) as hooks_tab:
                _webhooks_tab(console)

        admin_only = [adj_tab, dash_tab, hooks_tab, *bulk]

        def review_load(request: gr.Request):
            screen = _screen(console.open, request)
            admin = console.user(request).role == "admin"
            return [*screen, *(gr.update(visible=admin) for _ in admin_only)]

        app.load(review_load, None, [*review_out, *admin_only], api_visibility="private")
    return app.queue(default_concurrency_limit=CONCURRENCY)


def _review_tab(console: Console) -> list:
    g = console.guideline
    # judging tasks put replies side by side: the item takes more of the width
    wide = 7 if g.judges else 3
    # the item and what the model said on the left, the decision on the right
    with gr.Row(equal_height=False, elem_id="ll-review-row"):
        with gr.Column(scale=wide, elem_id="ll-review-main"):
            item = markup(elem_id="ll-item")
            side = markup(elem_id="ll-side")
        with gr.Column(scale=3 if g.judges else 2, elem_id="ll-decide"):
            status = markup(elem_id="ll-status-box")
            first = g.for_question(g.question_names[0]) if g.asks_questions else g
            picker = markup(render.picker_html(first, REJECT_REASONS), elem_id="ll-picker-box")
    markup(render.guideline_html(g), elem_id="ll-guideline", elem_classes="ll-closed")
    command = gr.Textbox(visible="hidden", elem_id="ll-command", max_lines=1)
    go = gr.Button(visible="hidden", elem_id="ll-go")
    outputs = [item, side, status, picker]

    def review_command(raw: str, request: gr.Request):
        return _screen(lambda r: console.command(raw, r), request)

    go.click(
        review_command,
        [command],
        outputs,
        api_visibility="private",
        show_progress="hidden",
        queue=True,
    )
    return outputs


def _screen(fn: Callable, request) -> list:
    try:
        screen: Screen = fn(request)
    except AuthError as exc:
        raise error(exc, "Signed out") from exc
    except sa.exc.SQLAlchemyError as exc:
        raise _store_failed(exc) from None
    picker = gr.update() if screen.picker is None else screen.picker
    return [screen.item, screen.side, screen.status, picker]


def _store_failed(exc: Exception) -> gr.Error:
    log.error("store error in a console handler: %s", exc, exc_info=exc)
    return error(STORE_FAILED, "Not saved")


def _checked(fn: Callable) -> Callable:
    """Run an admin or browser handler; refusals and mistakes become a message, not a trace."""

    @functools.wraps(fn)  # Gradio reads the signature to inject ``gr.Request``
    def run(*args):
        try:
            return fn(*args)
        except (AuthError, AccessDenied) as exc:
            raise error(exc, "Not allowed") from exc
        except LabelloopError as exc:
            raise error(exc, "Cannot do that") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise _store_failed(exc) from None

    return run


def _edit_in_review(console: Console, adjudicate: bool) -> Callable:
    """A handler opening the chosen item in the review tab's editor, and showing that tab."""

    def open_editor(item_id: str | None, request: gr.Request):
        screen = console.edit(console.item_id(item_id), adjudicate, request)
        picker = gr.update() if screen.picker is None else screen.picker
        return screen.item, screen.side, screen.status, picker, gr.Tabs(selected="review")

    open_editor.__name__ = "adj_edit" if adjudicate else "item_edit"
    return _checked(open_editor)


def _browse_tab(console: Console, editor: list, tab) -> list:
    g = console.guideline
    page = gr.State(0)
    plan = gr.State("")
    planned = gr.State(None)  # the filters the shown preview was made for
    opened = gr.State("")  # the item the change form was filled for
    # the filters and the matching items on the left, the item opened and its change on the
    # right; the list and the item scroll inside their panels
    with gr.Row(equal_height=False, elem_id="ll-browse-row"):
        with gr.Column(scale=2, elem_id="ll-browse-left"):
            with gr.Row(elem_classes="ll-form-row"):
                text = gr.Textbox(label="Text contains", elem_id="ll-f-text", scale=2)
                # a judging task's answers name replies, whose order differs by reviewer
                label = gr.Dropdown(
                    ["", *g.label_names],
                    value="",
                    label="Label",
                    filterable=True,
                    visible=not g.judges,
                )
                route = gr.Dropdown(list(ROUTES), value="", label="Route", elem_id="ll-f-route")
                reviewer = gr.Textbox(label="Reviewer", elem_id="ll-f-reviewer", min_width=100)
            # the other filters share a row with the buttons: more of the list stays in view
            with gr.Row(elem_classes="ll-form-row", elem_id="ll-f-row2"):
                narrow = {"min_width": 90}
                lo = gr.Number(
                    0, label="Min conf. %", minimum=0, maximum=100, precision=0, **narrow
                )
                hi = gr.Number(
                    100, label="Max conf. %", minimum=0, maximum=100, precision=0, **narrow
                )
                since = gr.Textbox(label="Since", placeholder="YYYY-MM-DD", min_width=115)
                until = gr.Textbox(label="Until", placeholder="YYYY-MM-DD", min_width=115)
                small = {"size": "sm", "scale": 0}
                search = gr.Button(
                    "Search", variant="primary", elem_id="ll-f-search", min_width=75, **small
                )
                prev = gr.Button("◀ Previous", min_width=105, **small)
                nxt = gr.Button("Next ▶", min_width=75, **small)
            with gr.Row(elem_classes="ll-form-row"):
                bulk = gr.Button(
                    "Accept all matching… (admin)",
                    visible=False,
                    variant="stop",
                    elem_id="ll-bulk",
                    min_width=220,
                    **small,
                )
                bulk_undo = gr.Button(
                    "Undo my last bulk accept",
                    visible=False,
                    elem_id="ll-bulk-undo",
                    min_width=200,
                    **small,
                )
            note = markup(elem_id="ll-browse-note")
            with gr.Row(visible=False, elem_classes="ll-form-row") as confirm_row:
                bulk_go = gr.Button(
                    "Confirm bulk accept", variant="stop", size="sm", elem_id="ll-bulk-confirm"
                )
                bulk_cancel = gr.Button("Cancel", size="sm", elem_id="ll-bulk-cancel")
            results = markup(elem_id="ll-browse", elem_classes="ll-scroll")
        with gr.Column(scale=1, elem_id="ll-browse-right"):
            with gr.Row(elem_classes="ll-form-row"):
                open_id = gr.Textbox(label="Item id", elem_id="ll-open-id", scale=2)
                open_btn = gr.Button("Open", size="sm", elem_id="ll-open", scale=0)
                edit_btn = gr.Button(
                    "Edit in the review tab", size="sm", elem_id="ll-edit", scale=0
                )
            with gr.Row(elem_classes="ll-form-row"):
                action = gr.Radio(
                    ["accept", "fix", "reject"],
                    value=None,
                    label="Change to",
                    elem_id="ll-change-action",
                )
                new_label = gr.Dropdown(
                    _label_choices(g),
                    value=[] if g.kind == "multi" else None,
                    label="Better reply" if g.kind == "pairwise" else "Label",
                    filterable=True,
                    multiselect=g.kind == "multi",
                    elem_id="ll-change-label",
                    # ratings and rankings are changed with the keys (Edit in the review tab)
                    visible=g.kind not in ("rating", "ranking"),
                )
            with gr.Row(elem_classes="ll-form-row"):
                reason = gr.Dropdown(["", *REJECT_REASONS], value="", label="Reject reason")
                comment = gr.Textbox(label="Comment")
                change = gr.Button("Save change", size="sm", elem_id="ll-change", scale=0)
            # what became of the last Save change, beside the form
            change_note = markup(elem_id="ll-change-note")
            detail = markup(elem_id="ll-detail", elem_classes="ll-scroll")
    form = [text, label, route, lo, hi, reviewer, since, until]

    def show(step: int):
        def browse_page(text, lab, rte, lo, hi, who, since, until, current, request: gr.Request):
            n = 0 if step == 0 else max(0, current + step)
            found = filters(text, lab, rte, lo, hi, who, since, until)
            return console.browse(found, n, request), n

        return _checked(browse_page)

    def item_open(item_id: str, request: gr.Request):
        item_id = console.item_id(item_id)
        html = console.detail(item_id, request)
        return (
            html,
            item_id,
            gr.update(value=None),
            gr.update(value=console.change_form(item_id, request)),
            "",
        )

    def item_change(item_id, act, lab, why, text, loaded, request: gr.Request):
        item_id = console.item_id(item_id)
        try:
            done = console.change(item_id, act, lab, why, text, request, loaded)
        except (AuthError, AccessDenied):
            raise
        except LabelloopError as exc:  # refused: said beside the form, which keeps its choices
            kept = [gr.skip() for _ in range(4)]
            return (*kept, render.message_html(f"Nothing saved: {exc}", "warn"))
        # saved: the item again as it is now, and the form back at its start
        return (*item_open(item_id, request)[:4], render.message_html(done))

    def bulk_preview(text, lab, rte, lo, hi, who, since, until, request: gr.Request):
        found = filters(text, lab, rte, lo, hi, who, since, until)
        html, token = console.bulk_preview(found, request)
        return html, token, found, gr.update(visible=bool(token))

    def bulk_confirm(token, shown, text, lab, rte, lo, hi, who, since, until, request: gr.Request):
        console.user(request, admin=True)  # the role first, whatever was sent
        found = filters(text, lab, rte, lo, hi, who, since, until)
        done = console.bulk_accept(token, request, shown, found)
        return done, "", None, gr.update(visible=False)

    def bulk_drop(request: gr.Request):
        console.user(request, admin=True)
        return (
            render.message_html("Bulk accept cancelled: nothing changed."),
            "",
            None,
            gr.update(visible=False),
        )

    def bulk_undo_last(request: gr.Request):
        return console.bulk_undo(request)

    for button, step in ((search, 0), (prev, -1), (nxt, 1)):
        button.click(show(step), [*form, page], [results, page], api_visibility="private")
    # Enter in a filter's box searches, as the Search button does
    for box in (text, reviewer, lo, hi, since, until):
        box.submit(show(0), [*form, page], [results, page], api_visibility="private")
    # the first page on opening the tab: the items are there before any search
    tab.select(show(0), [*form, page], [results, page], api_visibility="private")
    opening = [detail, opened, action, new_label, change_note]
    for opener in (open_btn.click, open_id.submit):  # the button, or Enter in the id box
        opener(_checked(item_open), [open_id], opening, api_visibility="private")
    edit_btn.click(_edit_in_review(console, False), [open_id], editor, api_visibility="private")
    change.click(
        _checked(item_change),
        [open_id, action, new_label, reason, comment, opened],
        opening,
        api_visibility="private",
    )
    confirm = [note, plan, planned, confirm_row]
    bulk.click(_checked(bulk_preview), form, confirm, api_visibility="private")
    bulk_go.click(_checked(bulk_confirm), [plan, planned, *form], confirm, api_visibility="private")
    bulk_cancel.click(_checked(bulk_drop), None, confirm, api_visibility="private")
    bulk_undo.click(_checked(bulk_undo_last), None, [note], api_visibility="private")
    return [bulk, bulk_undo]


def _label_choices(g) -> list[str]:
    """What a form offers as an answer: the labels, or a pairwise task's replies by name
    ("Reply 1", "Reply 2", "Tie": by position in the user's own order of the item)."""
    return pick_choices(g) if g.kind == "pairwise" else g.label_names


def _adjudicate_tab(console: Console, editor: list, tab) -> None:
    g = console.guideline
    # the answers side by side on the left (scrolling in their panel), the decision right
    with gr.Row(equal_height=False, elem_id="ll-adj-row"):
        with gr.Column(scale=3):
            view = markup(elem_id="ll-adj-view", elem_classes="ll-scroll")
        with gr.Column(scale=2, elem_id="ll-adj-decide-box"):
            with gr.Row(elem_classes="ll-form-row"):
                ids = gr.Dropdown(
                    [], label="Waiting for adjudication", elem_id="ll-adj-ids", scale=2
                )
                refresh = gr.Button("Refresh list", size="sm", scale=0, elem_id="ll-adj-refresh")
            choice = gr.Radio([], label="Take this answer", elem_id="ll-adj-choice")
            label = gr.Dropdown(
                ["", *_label_choices(g)] if g.kind != "multi" else g.label_names,
                value=[] if g.kind == "multi" else "",
                label="…or decide another reply"
                if g.kind == "pairwise"
                else "…or decide another label",
                filterable=True,
                multiselect=g.kind == "multi",
                visible=g.kind not in ("rating", "ranking"),
                elem_id="ll-adj-other",
            )
            comment = gr.Textbox(label="Comment", elem_id="ll-adj-comment")
            with gr.Row(elem_classes="ll-form-row"):
                decide = gr.Button("Decide", variant="primary", size="sm", elem_id="ll-adj-decide")
                edit = gr.Button("Edit in the review tab", size="sm", elem_id="ll-adj-edit")
            note = markup(elem_id="ll-adj-note")

    def adj_list(request: gr.Request):
        waiting = console.adjudication_ids(request)
        if not waiting:  # said where the answers would be, and nothing left to choose
            return gr.update(choices=[], value=None), NOTHING_TO_ADJUDICATE, gr.update(choices=[])
        return gr.update(choices=waiting, value=waiting[0]), gr.skip(), gr.skip()

    # an item opened starts with an empty form: a label or comment typed for the item
    # decided before must not decide this one
    empty = ([] if g.kind == "multi" else "", "")

    def adj_open(item_id: str | None, request: gr.Request):
        console.user(request, admin=True)  # the role first, whatever was sent
        if not item_id:
            return NOTHING_TO_ADJUDICATE, gr.update(choices=[], value=None), *empty
        html, offered = console.adjudication(item_id, request)
        return html, gr.update(choices=offered, value=None), *empty

    def adj_decide(item_id, picked, override, text, request: gr.Request):
        console.user(request, admin=True)  # the role first, whatever was sent
        try:
            if not item_id:
                raise LabelloopError("Nothing is chosen: pick an item from the list first")
            done = console.adjudicate(item_id, picked, override, text, request)
        except (AuthError, AccessDenied):
            raise
        except LabelloopError as exc:  # a mistake on the form: said beside it, one line
            log.info("adjudication refused: %s", exc)
            return render.message_html(f"Nothing decided: {exc}", "warn")
        return render.message_html(done)

    listed = [ids, view, choice]
    refresh.click(_checked(adj_list), None, listed, api_visibility="private")
    tab.select(_checked(adj_list), None, listed, api_visibility="private")
    edit.click(_edit_in_review(console, True), [ids], editor, api_visibility="private")
    opened = [view, choice, label, comment]
    ids.change(_checked(adj_open), [ids], opened, api_visibility="private")
    decide.click(
        _checked(adj_decide), [ids, choice, label, comment], [note], api_visibility="private"
    ).then(_checked(adj_list), None, listed, api_visibility="private")


def _dashboard_tab(console: Console, tab) -> None:
    """The lead's dashboard: loads when the tab opens; the details fold below."""
    # the buttons on one line at the top; what they show scrolls in the panel below
    with gr.Row(elem_id="ll-dash-bar", equal_height=True):
        markup('<div class="ll-dash-head">Where the project stands</div>')
        fmt = gr.Dropdown(
            EXPORT_FORMATS,
            value="jsonl",
            label="Export format",
            show_label=False,
            container=False,
            scale=0,
            min_width=130,
        )
        export = gr.Button("Export", elem_id="ll-export", scale=0, size="sm", min_width=80)
        refresh = gr.Button("Refresh", scale=0, size="sm", elem_id="ll-dash-refresh", min_width=80)
    with gr.Column(elem_id="ll-dash-body", elem_classes="ll-scroll"):
        file = gr.File(label="Exported file", interactive=False, visible=False)
        top = markup(elem_id="ll-dash-top")
        with gr.Accordion("Details: every count, figures per label, the eval plots", open=False):
            details = markup(elem_id="ll-dashboard")
        with gr.Row():
            who = gr.Textbox(label="Reviewer to set", elem_id="ll-blind-who")
            blind = gr.Checkbox(label="Show this reviewer every item blind", elem_id="ll-blind-on")
            save = gr.Button("Save blind setting", size="sm", scale=0, min_width=160)
        note = markup()
        with gr.Accordion("Guideline", open=False):
            markup(render.guideline_html(console.guideline))

    def set_blind(name, on, request: gr.Request):
        return render.message_html(console.set_blind(name.strip(), bool(on), request))

    def dashboard(request: gr.Request):
        return console.dashboard(request)

    def export_file(fmt: str, request: gr.Request):
        return gr.update(value=console.export(fmt, request), visible=True)

    tab.select(_checked(dashboard), None, [top, details], api_visibility="private")
    refresh.click(_checked(dashboard), None, [top, details], api_visibility="private")
    export.click(_checked(export_file), [fmt], [file], api_visibility="private")
    save.click(_checked(set_blind), [who, blind], [note], api_visibility="private")


def _webhooks_tab(console: Console) -> None:
    """Admins register and remove webhooks and read the delivery log."""
    with gr.Row():
        url = gr.Textbox(label="Receiver URL (http or https)", elem_id="ll-hook-url", scale=3)
        secret = gr.Textbox(
            label="Secret's environment variable",
            placeholder="LABELLOOP_WEBHOOK_SECRET",
            elem_id="ll-hook-secret",
            scale=2,
        )
    events = gr.CheckboxGroup(
        list(EVENT_TYPES), value=list(EVENT_TYPES), label="Events", elem_id="ll-hook-events"
    )
    with gr.Row():
        add = gr.Button("Add webhook", variant="primary", elem_id="ll-hook-add", scale=0)
        which = gr.Textbox(label="Webhook id", elem_id="ll-hook-id", scale=0)
        remove = gr.Button("Remove webhook", variant="stop", elem_id="ll-hook-remove", scale=0)
        refresh = gr.Button("Refresh", elem_id="ll-hook-refresh", scale=0)
    note = markup(elem_id="ll-hook-note")
    table = markup(elem_id="ll-hooks")

    def hooks_list(request: gr.Request):
        return console.webhooks(request)

    def hook_add(address, ticked, variable, request: gr.Request):
        return console.webhook_add(address, ticked, variable, request), console.webhooks(request)

    def hook_remove(number, request: gr.Request):
        return console.webhook_remove(number, request), console.webhooks(request)

    refresh.click(_checked(hooks_list), None, [table], api_visibility="private")
    add.click(_checked(hook_add), [url, events, secret], [note, table], api_visibility="private")
    remove.click(_checked(hook_remove), [which], [note, table], api_visibility="private")
