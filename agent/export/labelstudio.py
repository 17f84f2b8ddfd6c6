"""Label Studio export: a JSON array of tasks, written as the records stream.

Label Studio: ``OUT`` is a JSON array of tasks and ``OUT`` with suffix ``.config.xml`` the
labeling config whose tag names the results use. Text items are ``data.text`` (a ``<Text>``
tag); conversations are ``data.dialogue``, a list of ``{"author", "text"}`` as Label
Studio's ``<Paragraphs layout="dialogue" nameKey="author" textKey="text">`` expects. The
routing suggestion is the task's one prediction (``model_version``, ``score``); each
reviewer's latest decisive review is an annotation, "no spans" and "no labels" included
(an empty ``result``, as Label Studio saves a submission with nothing marked). A
single-label config's ``<Choices>`` is ``required``: an empty result there would hold no
label, and the import skips it.

Judging tasks keep the item's ``replies`` in ``data.replies`` (the labelloop import reads
them back whole: ids, models, messages) and show them with Label Studio's own tags. A pairwise
task shows the first reply as ``data.answer1`` and the second as ``data.answer2`` under a
``<Pairwise>`` tag, whose result is ``{"type": "pairwise", "value": {"selected": "left"}}``
(``left`` the first reply, ``right`` the second; its ``to_name`` is its own name, as Label
Studio saves it); a tie (``allow_tie: true``) is the ``tie`` choice of a ``<Choices
name="tie">``. A ranking task shows the replies as ``data.answers``, a ``<List>`` of ``{"id",
"title", "body"}``, under a ``<Ranker>`` tag, whose result is ``{"type": "ranker", "value":
{"ranker": {"label": [reply ids, best first]}}}``. Label Studio has no tag that rates each
of a varying number of replies on the task's scale: a rating task is exported as jsonl, csv
or hf.

``completed_by`` is what Label Studio's import accepts: ``{"email": ...}``, or a user id.
Label Studio resolves either to one of its users and refuses the file if it has none
(unless ``LABEL_STUDIO_ALLOW_IMPORT_TASKS_WITH_UNKNOWN_EMAILS`` is set; it then credits
the importing user). A reviewer named by an email keeps it; one imported from Label Studio
as ``ls-user-N`` is user id N again; any other name ``NAME`` is the email
``NAME@labelloop.invalid`` (a reserved domain; ``labelloop.ingest.readers.ls_email``
percent-encodes what an address cannot hold and upper-case letters, which Label Studio
lower-cases), and
labelloop's Label Studio import maps such an email back to ``NAME``. So the file imports
back into labelloop, directly or through a Label Studio that has those users, with the
same reviewers and values.

A guideline that asks several questions has one control per question, named after it
(``<Choices name="category">`` for a single- or multi-label question, ``<Labels>`` for a
span question over text), each under a ``<Header>`` naming the question; a result's
``from_name`` is its question, and the import reads it back as that question's answer.
No control is ``required``: a person may answer some questions only. Each reviewer's
annotation holds their latest answer to each question they answered. A question answered
with no labels or no spans has no region and comes back unanswered, and an abstention is
left out. Label Studio's simple tags cannot hold a question asked of each turn, spans over
a conversation, nor a judging question (pairwise, rating, ranking): such a guideline is
refused (jsonl, csv and hf hold it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from xml.sax.saxutils import quoteattr

from labelloop.core.errors import LabelloopError
from labelloop.core.types import (
    DECISIVE,
    TIE,
    Guideline,
    Item,
    ItemRecord,
    LabelValue,
    Review,
    Span,
    current_reviews,
)
from labelloop.export.values import json_text, reply_json
from labelloop.ingest.readers import ls_email

LS_USER = re.compile(r"ls-user-(\d+)")


FROM_NAME = "label"
#: a pairwise task's tie (``allow_tie: true``): a choice, Label Studio's Pairwise has none
TIE_NAME = "tie"
#: the data fields and tag names that show a pairwise task's two replies
PAIR_FIELDS = ("answer1", "answer2")
#: the data field and ``<List>`` name that show a ranking task's replies
LIST_FIELD = "answers"


def check_labelstudio(guideline: Guideline) -> None:
    """Refuse the shapes Label Studio's simple tags cannot hold without loss."""
    if guideline.asks_questions:
        _check_questions(guideline)
        return
    if guideline.unit == "turn":
        raise LabelloopError(
            "labelstudio export does not support unit: turn (per-turn labels); use --format jsonl"
        )
    if guideline.kind == "spans" and guideline.unit != "text":
        raise LabelloopError(
            "labelstudio export of spans needs unit: text; use --format jsonl for conversations"
        )
    if guideline.kind == "rating":
        raise LabelloopError(
            "labelstudio export does not support kind: rating (a rating for each reply); "
            "use --format jsonl, csv or hf"
        )


def _check_questions(guideline: Guideline) -> None:
    for q in guideline.questions:
        what = None
        if q.unit == "turn":
            what = "is asked of each turn (unit: turn)"
        elif q.kind in ("pairwise", "rating", "ranking"):
            what = f"judges replies (kind: {q.kind})"
        elif q.kind == "spans" and guideline.unit != "text":
            what = "marks spans in a conversation"
        if what is not None:
            raise LabelloopError(
                f"labelstudio export cannot hold question {q.name!r}: it {what}, which Label "
                "Studio's simple tags do not hold without loss; use --format jsonl, csv or hf"
            )


def labelstudio_config(guideline: Guideline) -> str:
    """The ``<View>`` labeling config matching the exported tasks' tag names."""
    to_name = _ls_to_name(guideline)
    if guideline.unit == "text":
        obj = '  <Text name="text" value="$text"/>'
    else:
        obj = (
            '  <Paragraphs name="dialogue" value="$dialogue" layout="dialogue"'
            ' nameKey="author" textKey="text"/>'
        )
    if guideline.asks_questions:
        controls = [_question_control(guideline, q, to_name) for q in guideline.question_names]
        return f"<View>\n{obj}\n" + "\n".join(controls) + "\n</View>\n"
    if guideline.kind == "pairwise":
        control = _pairwise_config(guideline, to_name)
    elif guideline.kind == "ranking":
        control = (
            f'  <List name="{LIST_FIELD}" value="${LIST_FIELD}" title="Replies"/>\n'
            f'  <Ranker name="{FROM_NAME}" toName="{LIST_FIELD}"/>'
        )
    elif guideline.kind == "spans":
        inner = "\n".join(f"    <Label value={quoteattr(n)}/>" for n in guideline.label_names)
        control = f'  <Labels name="{FROM_NAME}" toName="{to_name}">\n{inner}\n  </Labels>'
    else:
        # a single-label answer needs its one label ("no labels" is a multi-label answer)
        single = 'choice="single" required="true"'
        choice = single if guideline.kind == "single" else 'choice="multiple"'
        inner = "\n".join(f"    <Choice value={quoteattr(n)}/>" for n in guideline.label_names)
        control = (
            f'  <Choices name="{FROM_NAME}" toName="{to_name}" {choice}>\n{inner}\n  </Choices>'
        )
    return f"<View>\n{obj}\n{control}\n</View>\n"


def _question_control(guideline: Guideline, name: str, to_name: str) -> str:
    """A question's header and control: ``<Labels>`` for spans, else ``<Choices>`` (one
    choice or several); none is required, as a person may answer some questions only."""
    q = guideline.for_question(name)
    tag = "Labels" if q.kind == "spans" else "Choices"
    inner_tag = "Label" if q.kind == "spans" else "Choice"
    inner = "\n".join(f"    <{inner_tag} value={quoteattr(n)}/>" for n in q.label_names)
    choice = ""
    if q.kind != "spans":
        choice = ' choice="single"' if q.kind == "single" else ' choice="multiple"'
    return (
        f"  <Header value={quoteattr(name)}/>\n"
        f"  <{tag} name={quoteattr(name)} toName={quoteattr(to_name)}{choice}>\n{inner}\n"
        f"  </{tag}>"
    )


def _pairwise_config(guideline: Guideline, to_name: str) -> str:
    first, second = PAIR_FIELDS
    lines = [
        f'  <Pairwise name="{FROM_NAME}" toName="{first},{second}"/>',
        *(f'  <Text name="{f}" value="${f}"/>' for f in PAIR_FIELDS),
    ]
    if guideline.allow_tie:
        lines.append(
            f'  <Choices name="{TIE_NAME}" toName="{to_name}" choice="single">\n'
            f'    <Choice value="{TIE}"/>\n  </Choices>'
        )
    return "\n".join(lines)


def _ls_to_name(guideline: Guideline) -> str:
    return "text" if guideline.unit == "text" else "dialogue"


def ls_result(value: LabelValue | None, item: Item, to_name: str) -> list[dict[str, Any]] | None:
    """A label value as Label Studio result regions: ``[]`` for no spans or no labels, None
    for what Label Studio cannot hold (no value, a model's abstention, per-turn labels,
    ratings)."""
    if value is None or value.abstain:
        return None
    if value.answers is not None:
        return _answers_result(value.answers, item, to_name)
    if item.replies is not None:
        return _judging_result(value, item, to_name)
    return _one_result(value, to_name, FROM_NAME)


def _answers_result(
    answers: dict[str, LabelValue], item: Item, to_name: str
) -> list[dict[str, Any]] | None:
    """Answers keyed by question as the regions of each question's control (ids unique
    across them); None where no answer makes a region."""
    out: list[dict[str, Any]] = []
    for name, value in answers.items():
        if value.abstain:
            continue
        for region in _one_result(value, to_name, name) or ():
            out.append({**region, "id": f"r{len(out)}"})
    return out or None


def _one_result(value: LabelValue, to_name: str, from_name: str) -> list[dict[str, Any]] | None:
    """A single, multi-label or span value as the regions of control ``from_name``."""
    base = {"from_name": from_name, "to_name": to_name}
    if value.label is not None:
        return [{"id": "r0", **base, "type": "choices", "value": {"choices": [value.label]}}]
    if value.labels is not None:
        choices = {"choices": list(value.labels)}
        return [{"id": "r0", **base, "type": "choices", "value": choices}] if value.labels else []
    if value.spans is not None:
        return [
            {
                "id": f"r{i}",
                **base,
                "type": "labels",
                "value": _ls_span(s),
            }
            for i, s in enumerate(value.spans)
        ]
    return None


def _judging_result(value: LabelValue, item: Item, to_name: str) -> list[dict[str, Any]] | None:
    """A pairwise answer as a Pairwise region (a tie as the tie choice), a ranking as a
    Ranker region; None for ratings."""
    if value.label == TIE:
        return [_region(TIE_NAME, to_name, "choices", {"choices": [TIE]})]
    ids = item.reply_ids
    if value.label is not None and value.label in ids[:2]:
        side = "left" if value.label == ids[0] else "right"
        # Label Studio saves a Pairwise region with the tag's own name as its target
        return [_region(FROM_NAME, FROM_NAME, "pairwise", {"selected": side})]
    if value.ranking is not None:
        ranker = {"ranker": {FROM_NAME: list(value.ranking)}}
        return [_region(FROM_NAME, LIST_FIELD, "ranker", ranker)]
    return None


def _region(from_name: str, to_name: str, kind: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"id": "r0", "from_name": from_name, "to_name": to_name, "type": kind, "value": value}


def _ls_span(s: Span) -> dict[str, Any]:
    # the covered text only where labelloop has one: Label Studio reads it from the offsets
    out: dict[str, Any] = {"start": s.start, "end": s.end, "labels": [s.label]}
    return {**out, "text": s.text} if s.text is not None else out


def completed_by(reviewer: str) -> int | dict[str, str]:
    """How Label Studio names a reviewer: its user id for ``ls-user-N``, else an email
    (``labelloop.ingest.readers`` reads each form back)."""
    m = LS_USER.fullmatch(reviewer)
    if m:
        return int(m.group(1))
    return {"email": ls_email(reviewer)}


def ls_annotations(record: ItemRecord, to_name: str) -> list[dict[str, Any]]:
    """Each reviewer's latest decisive review, in first-review order (one whose value Label
    Studio cannot hold, such as an abstention, is left out rather than an older one shown)."""
    latest: dict[str, Review] = {}
    for r in current_reviews(record.reviews):
        if r.action in DECISIVE and r.value is not None:
            earlier = latest.pop(r.reviewer, None)
            latest[r.reviewer] = _merged(earlier, r)
    out = []
    for r in latest.values():
        result = ls_result(r.value, record.item, to_name)
        if result is None:
            continue
        ann: dict[str, Any] = {
            "completed_by": completed_by(r.reviewer),
            "result": result,
            "was_cancelled": False,
            "ground_truth": False,
            "created_at": r.created_at.isoformat(),
            "updated_at": r.created_at.isoformat(),
            "lead_time": r.duration_ms / 1000 if r.duration_ms is not None else None,
        }
        out.append(ann)
    return out


def _merged(earlier: Review | None, review: Review) -> Review:
    """A reviewer's answers keyed by question: ``review``'s over the earlier ones (a
    person may answer the questions in several reviews); any other review as it is."""
    value = review.value
    if earlier is None or value is None or value.answers is None:
        return review
    before = earlier.value.answers if earlier.value is not None else None
    if not before:
        return review
    merged = LabelValue(answers={**before, **value.answers})
    return review.model_copy(update={"value": merged, "duration_ms": None})


def ls_task(record: ItemRecord, guideline: Guideline) -> dict[str, Any]:
    """One Label Studio task: data, the suggestion as a prediction, reviews as annotations."""
    item = record.item
    to_name = _ls_to_name(guideline)
    data: dict[str, Any] = {"id": item.id}
    if item.text is not None:
        data["text"] = item.text
    else:
        msgs = item.messages or ()
        data["dialogue"] = [{"author": m.speaker, "text": m.plain()} for m in msgs]
        if any(m.extras() for m in msgs):  # names and tool calls: kept whole beside the view
            data["messages"] = [m.as_row() for m in msgs]
        if item.target_turn is not None:
            data["target_turn"] = item.target_turn
    if item.replies is not None:
        data.update(_replies_data(item, guideline))
    task: dict[str, Any] = {"data": data}
    if item.meta:
        task["meta"] = item.meta
    predictions = []
    s = record.suggestion
    if s is not None and s.value is not None:
        result = ls_result(s.value, item, to_name)
        score = s.calibrated if s.calibrated is not None else s.confidence
        if result is not None:
            for region in result:
                region["score"] = score
            predictions.append({"model_version": s.model, "score": score, "result": result})
    task["predictions"] = predictions
    task["annotations"] = ls_annotations(record, to_name)
    return task


def _replies_data(item: Item, guideline: Guideline) -> dict[str, Any]:
    """A judging item's replies: whole (for the import back), and as its tags show them."""
    replies = item.replies or ()
    data: dict[str, Any] = {"replies": [reply_json(r) for r in replies]}
    if guideline.kind == "pairwise":
        data.update(zip(PAIR_FIELDS, (r.render_plain() for r in replies), strict=False))
    elif guideline.kind == "ranking":
        data[LIST_FIELD] = [
            {"id": r.id, "title": f"Reply {r.id}", "body": r.render_plain()} for r in replies
        ]
    return data


def write_labelstudio(fh, records: Iterable[ItemRecord], guideline: Guideline) -> int:
    """Stream a JSON array of tasks to ``fh``; returns the number of tasks."""
    fh.write("[")
    n = 0
    for rec in records:
        fh.write(",\n" if n else "\n")
        fh.write(json_text(ls_task(rec, guideline)))
        n += 1
    fh.write("\n]\n")
    return n
