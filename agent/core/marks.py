"""Spans marked inside a guideline's examples: ``Table for [four](people) at [7pm](time)``.

A span guideline's examples mark their spans the way Markdown writes a link, ``[text](label)``;
:func:`unmark` gives the plain example and its spans (character offsets into the plain text),
which the embedded span labeler learns from before anyone has reviewed an item.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from labelloop.core.types import Span

if TYPE_CHECKING:
    from labelloop.core.types import Guideline

#: ``[text](label)``: the text has no brackets, the label no spaces or parentheses
MARK = re.compile(r"\[(?P<text>[^\[\]]+)\]\((?P<label>[^()\s]+)\)")


def unmark(text: str) -> tuple[str, tuple[Span, ...]]:
    """The example without its marks, and its spans in order (offsets into the plain text)."""
    plain: list[str] = []
    spans: list[Span] = []
    at = 0  # position in ``text``
    size = 0  # length of the plain text so far
    for m in MARK.finditer(text):
        before = text[at : m.start()]
        plain.append(before)
        size += len(before)
        words = m["text"]
        spans.append(Span(start=size, end=size + len(words), label=m["label"], text=words))
        plain.append(words)
        size += len(words)
        at = m.end()
    plain.append(text[at:])
    return "".join(plain), tuple(spans)


def marked_labels(text: str) -> list[str]:
    """The labels an example's marks name, in order."""
    return [m["label"] for m in MARK.finditer(text)]


def broken_mark(text: str) -> str | None:
    """What is left of a mark that is not ``[text](label)`` once the marks are read (a
    bracket without its pair, ``](`` without a label), or None."""
    rest = MARK.sub("", text)
    for piece in ("](", "[", "]"):
        at = rest.find(piece)
        if at >= 0:
            return rest[max(0, at - 12) : at + 14].strip()
    return None


def span_examples(guideline: Guideline) -> list[tuple[str, tuple[Span, ...]]]:
    """A span guideline's examples as answered texts (plain text, spans), each text once.

    An example with marks has exactly its marked spans. An unmarked example under a label is
    one span of that label, the whole text ("### time" / "- Example: 19"); an unmarked
    counter-example has no span of its label, or is wholly a span of the label it names."""
    out: dict[str, tuple[Span, ...]] = {}
    for lab in guideline.labels:
        texts = [(t, lab.name) for t in lab.examples]
        texts += [(t, other) for t, other in lab.counter_examples]
        for text, whole in texts:
            plain, spans = unmark(text)
            if not spans and whole is not None and plain.strip():
                a = len(plain) - len(plain.lstrip())
                b = len(plain.rstrip())
                spans = (Span(start=a, end=b, label=whole, text=plain[a:b]),)
            out.setdefault(plain, spans)
    return list(out.items())
