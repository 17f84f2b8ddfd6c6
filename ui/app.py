"""The Gradio review console: login, one item at a time, accept / fix / skip.

Every event handler takes ``request: gr.Request`` and checks ``request.username`` against
the store again on the server: the login page is not the only gate.
"""

from __future__ import annotations

import logging
import os

# The console must not phone home (analytics, version checks) from a reviewer's network.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402

from agent.auth import authenticate  # noqa: E402
from agent.errors import LabelloopError  # noqa: E402
from ui import handlers  # noqa: E402
from ui.handlers import AlreadyDecided, AuthError, ItemView  # noqa: E402

CONCURRENCY = 16
SIGNED_OUT = "Not signed in: reload the page and sign in with your labelloop account."

# Shortcuts act only when the reviewer is not typing (the label filter is a text input).
KEYBOARD_JS = """
<script>
(() => {
  const typing = (el) => el && (el.isContentEditable ||
    ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  const press = (e, id) => {
    const button = document.getElementById(id);
    if (button && !button.disabled) { e.preventDefault(); button.click(); }
  };
  document.addEventListener("keydown", (e) => {
    if (e.altKey || e.repeat || e.isComposing) return;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) return press(e, "ll-save");
    if (e.ctrlKey || e.metaKey || typing(e.target)) return;
    if (e.key === "a") press(e, "ll-accept");
    else if (e.key === "Enter" && !e.target.closest?.("button, a")) press(e, "ll-save");
  });
})();
</script>
"""

CSS = """
.ll-item { font-size: 1.05rem; line-height: 1.5; padding: .8rem 1rem; border-radius: .5rem;
           border: 1px solid var(--border-color-primary);
           background: var(--block-background-fill); }
.ll-item-id { color: var(--body-text-color-subdued); font-size: .85rem; margin-bottom: .4rem; }
.ll-text, .ll-content { white-space: pre-wrap; overflow-wrap: anywhere; }
.ll-turns { list-style: none; padding: 0; margin: 0; }
.ll-turn { border-left: 3px solid var(--border-color-primary); padding: .3rem .6rem;
           margin-bottom: .4rem; }
.ll-turn.ll-target { border-left-color: var(--color-accent); background: var(--color-accent-soft); }
.ll-turn-head { font-size: .8rem; color: var(--body-text-color-subdued); }
.ll-role { font-weight: 600; text-transform: uppercase; }
.ll-target-mark { margin-left: .5rem; color: var(--color-accent); font-weight: 600; }
.ll-suggestion table { width: 100%; }
.ll-suggestion th { text-align: left; width: 7rem; }
.ll-label { font-weight: 700; }
#ll-accept, #ll-save { white-space: nowrap; }
.ll-rationale { white-space: pre-wrap; margin-top: .4rem; }
.ll-blind, .ll-empty { padding: .6rem; border-radius: .4rem;
                       background: var(--block-background-fill); }
"""


def build_app(project) -> gr.Blocks:
    """The console for ``project``: item panel, suggestion panel, label picker and guideline."""
    guideline = project.guideline()
    with gr.Blocks(title=f"labelloop review: {guideline.task}") as app:
        view = gr.State(None)
        with gr.Row():
            gr.Markdown(f"## labelloop review · {guideline.task}")
            gr.Button("Log out", link="/logout", size="sm", scale=0, min_width=90)
        counts = gr.Markdown()
        status = gr.Markdown(elem_id="ll-status")
        with gr.Row():
            with gr.Column(scale=3):
                item = gr.HTML(elem_id="ll-item", js_on_load=None)
            with gr.Column(scale=2):
                suggestion = gr.HTML(elem_id="ll-suggestion", js_on_load=None)
                picker = gr.Dropdown(
                    choices=guideline.label_names,
                    value=None,
                    label="Label (type to filter)",
                    multiselect=guideline.kind == "multi",
                    filterable=True,
                    elem_id="ll-picker",
                )
                with gr.Row():
                    accept = gr.Button(
                        "Accept (a)",
                        variant="primary",
                        elem_id="ll-accept",
                        size="md",
                        min_width=80,
                    )
                    save = gr.Button(
                        "Save label (Enter)", elem_id="ll-save", size="md", min_width=80
                    )
                    skip = gr.Button("Skip", elem_id="ll-skip", size="md", scale=0, min_width=70)
        with gr.Accordion("Guideline", open=False):
            gr.Markdown(handlers.guideline_md(guideline))
        outputs = [view, item, suggestion, picker, accept, save, skip, status, counts]
        _wire(project, app, outputs, accept, save, skip)
    return app.queue(default_concurrency_limit=CONCURRENCY)


def _wire(project, app: gr.Blocks, outputs: list, accept, save, skip) -> None:
    view, picker = outputs[0], outputs[3]

    def load(request: gr.Request):
        return _next(project, request)

    def decide(action: str):
        def fn(current: ItemView | None, label, request: gr.Request):
            return _decide(project, request, current, action, label)

        return fn

    app.load(load, None, outputs, api_visibility="private")
    for button, action in ((accept, "accept"), (save, "fix"), (skip, "skip")):
        button.click(
            decide(action), [view, picker], outputs, api_visibility="private", trigger_mode="once"
        )


def _next(project, request: gr.Request) -> list:
    try:
        current = handlers.next_item(project, _username(request))
    except AuthError:
        return _signed_out()
    return _show(project, current)


def _decide(project, request: gr.Request, current, action: str, label) -> list:
    if current is None:
        return _next(project, request)
    try:
        handlers.submit(project, _username(request), current, action, label)
    except AuthError:
        return _signed_out()
    except AlreadyDecided as exc:
        gr.Warning(str(exc))
    except LabelloopError as exc:
        gr.Warning(str(exc))
        return [gr.skip()] * 9
    return _next(project, request)


def _username(request: gr.Request | None) -> str | None:
    return getattr(request, "username", None) if request is not None else None


def _show(project, current: ItemView | None) -> list:
    counts = handlers.counts_md(project)
    if current is None:
        empty = f'<div class="ll-empty">{handlers.EMPTY_MESSAGE}</div>'
        return _blank(empty, "**Nothing left for you to review.**", counts)
    can_accept = current.suggestion is not None and current.suggestion.value is not None
    return [
        current,
        handlers.render_item_html(current.item),
        handlers.render_suggestion_html(current.suggestion, current.blind),
        gr.update(value=_preselect(current), interactive=True),
        *_buttons(can_accept, True),
        _status(current),
        counts,
    ]


def _buttons(can_accept: bool, can_decide: bool) -> list:
    return [
        gr.update(interactive=can_accept),
        gr.update(interactive=can_decide),
        gr.update(interactive=can_decide),
    ]


def _preselect(current: ItemView):
    value = current.suggestion.value if current.suggestion is not None else None
    if value is None or current.kind == "spans":
        return [] if current.kind == "multi" else None
    return list(value.labels or ()) if current.kind == "multi" else value.label


def _status(current: ItemView) -> str:
    blind = " · shown blind" if current.blind else ""
    return f"Queue **{current.queue}**{blind} · signed in as **{current.reviewer}**"


def _signed_out() -> list:
    return _blank("", SIGNED_OUT, "")


def _blank(item_html: str, status: str, counts: str) -> list:
    picker = gr.update(value=None, interactive=False)
    return [None, item_html, "", picker, *_buttons(False, False), status, counts]


def check_login(project):
    """The ``auth=`` callable for ``launch``: true for an enabled account's right password."""

    def check(name: str, password: str) -> bool:
        return authenticate(project.store, name, password) is not None

    return check


def serve(
    project,
    host: str = "127.0.0.1",
    port: int = 7860,
    open_browser: bool = False,
    *,
    block: bool = True,
) -> gr.Blocks:
    """Serve the console on ``host:port``; with ``block=False`` return once it is up."""
    if not project.store.list_users():
        raise LabelloopError(
            "No console accounts yet: add one with `labelloop users add NAME --role reviewer`"
        )
    # Gradio polls its own server at start-up; those requests are not the user's business.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = build_app(project)
    app.launch(
        server_name=host,
        server_port=port,
        inbrowser=open_browser,
        auth=check_login(project),
        auth_message="Sign in with your labelloop account.",
        prevent_thread_lock=not block,
        share=False,
        ssr_mode=False,
        mcp_server=False,
        footer_links=[],
        quiet=not block,
        head=KEYBOARD_JS,
        css=CSS,
    )
    return app
