"""CoNLL/BIO export of span labels (and the reader that checks a round trip).

A guideline that asks several questions is written one file per span question (kind:
spans), since one BIO column holds one question's spans: ``OUT`` with the question's name
before its suffix (``out.conll`` gives ``out.places.conll``, ``out`` gives
``out.places``); ``OUT`` itself is not written. Each file holds the items with a final
answer (people's or auto-accepted), with their spans and source (``# label_source = ...``).
An item without one is left out: all ``O`` would read as "no spans" to any CoNLL reader.
An export of one review queue (``--queue``) writes its waiting items all ``O`` with
``# label_source = none``, to be annotated elsewhere. Questions of other kinds are not
written (JSONL, CSV or hf hold them); a guideline without a span question is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from labelloop.core.errors import LabelloopError
from labelloop.core.questions import final_answers
from labelloop.core.standing import final_label
from labelloop.core.types import (
    Guideline,
    ItemRecord,
    Span,
    overlapping,
)

TOKEN = re.compile(r"\S+")


def check_conll(guideline: Guideline) -> None:
    if guideline.asks_questions:
        if not span_questions(guideline):
            asked = ", ".join(f"{q.name} ({q.kind})" for q in guideline.questions)
            raise LabelloopError(
                f"conll export needs a span question (kind: spans); task {guideline.task!r} "
                f"asks {asked}; use --format jsonl or csv"
            )
        return
    if guideline.kind != "spans":
        raise LabelloopError(
            f"conll export needs a span guideline (kind: spans); task {guideline.task!r} "
            f"is kind: {guideline.kind}; use --format jsonl or csv"
        )


def bio_tags(text: str, spans: Iterable[Span]) -> list[tuple[str, int, int, str]]:
    """Tokens of ``text`` as ``(token, start, end, tag)``: its whitespace tokens, each cut
    where a span starts or ends inside it, so that every span is whole tokens ("Lagos->Accra"
    with two spans gives ``Lagos``, ``->``, ``Accra``; "Paris," with the span "Paris" gives
    ``Paris``, ``,``); a token in a span is tagged ``B-``/``I-`` its label. Spans that
    overlap raise LabelloopError: a BIO tag gives a token one label."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    pair = overlapping(ordered)
    if pair is not None:
        a, b = pair
        raise LabelloopError(
            f"spans {a.label} [{a.start}:{a.end}] and {b.label} [{b.start}:{b.end}] overlap"
        )
    cuts = sorted({s.start for s in ordered} | {s.end for s in ordered})
    out: list[tuple[str, int, int, str]] = []
    prev: Span | None = None
    for m in TOKEN.finditer(text):
        a, b = m.span()
        bounds = [a, *(c for c in cuts if a < c < b), b]
        for start, end in zip(bounds, bounds[1:], strict=False):
            hit = next((s for s in ordered if start < s.end and end > s.start), None)
            tag = "O" if hit is None else f"{'I' if hit is prev else 'B'}-{hit.label}"
            prev = hit
            out.append((text[start:end], start, end, tag))
    return out


def write_conll(fh, records: Iterable[ItemRecord], decided_only: bool = True) -> int:
    """``# id = ...`` and ``# text = ...`` comments, one ``token<TAB>TAG`` line a token, a
    blank line between items; returns the items written. An item without a final label is
    left out, or with ``decided_only`` False written all ``O`` with ``# label_source = none``."""
    n = 0
    for rec in records:
        value, source = final_label(rec)
        if value is None and decided_only:
            continue
        fh.write(_item_block(rec, value.spans or () if value else (), source))
        n += 1
    return n


def _item_block(rec: ItemRecord, spans: Iterable[Span], source: str | None) -> str:
    text = rec.item.render_plain()
    try:
        tags = bio_tags(text, spans)
    except LabelloopError as exc:
        raise LabelloopError(
            f"item {rec.item.id!r}: {exc}, and a CoNLL (BIO) file gives each token one label; "
            "nothing was written: export as JSONL (it keeps overlapping spans), or fix the "
            "item's spans so that none overlap"
        ) from None
    lines = [
        f"# id = {rec.item.id}\n",
        f"# text = {_one_line(text)}\n",
        f"# label_source = {source or 'none'}\n",
        *(f"{token}\t{tag}\n" for token, _, _, tag in tags),
        "\n",
    ]
    return "".join(lines)  # one write an item, not one a token


def span_questions(guideline: Guideline) -> list[str]:
    return [q.name for q in guideline.questions if q.kind == "spans" and q.unit != "turn"]


def question_path(out: str | Path, question: str) -> Path:
    """Where a span question's file goes: ``OUT`` with the question's name before its
    suffix."""
    out = Path(out)
    return out.with_name(f"{out.stem}.{question}{out.suffix}")


def write_conll_questions(
    out: str | Path, records: Iterable[ItemRecord], guideline: Guideline, decided_only: bool = True
) -> int:
    """One file per span question (``question_path``), written in one pass over the
    records; each file appears whole or not at all. Returns the number of items written to
    at least one file (``decided_only``: as in :func:`write_conll`, per question)."""
    names = span_questions(guideline)
    paths = {q: question_path(out, q) for q in names}
    parts = {q: p.with_name(p.name + ".part") for q, p in paths.items()}
    handles = {q: parts[q].open("w", encoding="utf-8", newline="") for q in names}
    n = 0
    try:
        for rec in records:
            answers, sources = final_answers(rec, guideline)
            wrote = False
            for q in names:
                value = answers.get(q)
                if value is None and decided_only:
                    continue
                spans = value.spans or () if value is not None else ()
                handles[q].write(_item_block(rec, spans, sources.get(q)))
                wrote = True
            n += wrote
    except BaseException:
        for q, fh in handles.items():
            fh.close()
            parts[q].unlink(missing_ok=True)
        raise
    for fh in handles.values():
        fh.close()
    for q in names:
        parts[q].replace(paths[q])
    return n


def _one_line(text: str) -> str:
    # same length, same whitespace positions: token offsets stay valid
    return re.sub(r"\s", " ", text)


def read_conll(path: str | Path) -> Iterator[dict[str, Any]]:
    """Parse a CoNLL export back: ``{"id", "text", "label_source", "spans"}`` per item, the
    spans' offsets found by reading the token lines along the ``# text`` line."""
    with open(path, encoding="utf-8") as fh:
        block: list[str] = []
        for line in fh:
            line = line.rstrip("\n")
            if line:
                block.append(line)
            elif block:
                yield _conll_item(block)
                block = []
        if block:
            yield _conll_item(block)


def _conll_item(lines: list[str]) -> dict[str, Any]:
    meta = {}
    rows = []
    for line in lines:
        if line.startswith("# ") and " = " in line:
            key, _, val = line[2:].partition(" = ")
            meta[key] = val
        else:
            rows.append(line.rsplit("\t", 1))
    text = meta.get("text", "")
    spans: list[dict[str, Any]] = []
    at, prev_end = 0, -1
    for token, tag in rows:
        start = text.find(token, at)
        if start < 0 or text[at:start].strip():
            raise ValueError(f"token {token!r} is not next in the text of {meta.get('id')!r}")
        end = at = start + len(token)
        kind, _, label = tag.partition("-")
        if kind == "I" and spans and spans[-1]["label"] == label and spans[-1]["end"] == prev_end:
            spans[-1]["end"] = end
        elif kind in ("B", "I"):
            spans.append({"start": start, "end": end, "label": label})
        prev_end = end
    return {
        "id": meta.get("id"),
        "text": meta.get("text"),
        "label_source": meta.get("label_source"),
        "spans": spans,
    }
