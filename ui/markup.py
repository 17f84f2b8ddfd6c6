"""Where the console hands Gradio text that the page shows as HTML: boxes and error toasts.

**Boxes.** :func:`markup` shows the HTML built by ``labelloop.ui.render`` as it is, under a CSP
without ``'unsafe-eval'``. Gradio's own HTML component compiles a Handlebars template with
``Function()`` on every update, which such a policy blocks: it would show nothing. Its
Markdown component inserts an HTML block as it is, compiling nothing, when Markdown, LaTeX
and sanitising are off and the value is one HTML block. A Markdown HTML block that starts
with ``<div`` ends at the first blank line, after which the rest would be read as
Markdown; so ``labelloop.ui.render`` writes every line break and tab as a character reference
(``&#10;``, ``&#9;``), which the browser reads back as the same character, in text and in
attribute values alike: its HTML is one line, one block, whatever the data holds.

**Toasts.** Gradio shows an error's message as HTML (sanitised, but links and styled boxes
pass), and the console's messages name item ids, labels and user names from the data:
:func:`error` escapes the message, and is the only place the console makes a toast.
"""

from __future__ import annotations

import logging

import gradio as gr

from labelloop.ui.render import esc

log = logging.getLogger(__name__)


def markup(value: str = "", **options) -> gr.Markdown:
    """A box showing HTML from ``labelloop.ui.render`` as it is; ``options`` are Gradio's
    (``elem_id``, ``visible``, ...). Every value it is given must come from
    ``labelloop.ui.render``."""
    return gr.Markdown(
        value,
        sanitize_html=False,  # built from escaped pieces, on one line (see above)
        latex_delimiters=[],
        line_breaks=False,
        header_links=False,
        padding=True,  # spaced as Gradio's HTML component was
        **options,
    )


def error(message: object, title: str) -> gr.Error:
    """An error toast showing ``message`` as text (escaped); ``title`` is shown as text.

    A refusal is what a person expects to be told, not a fault: the log gets one line and
    no traceback (faults are logged where they are caught, with theirs)."""
    log.info("%s: %s", title, message)
    return gr.Error(esc(message), title=title, print_exception=False)
