"""Prompts: a guideline, few-shot examples and one item rendered as chat messages.

The messages are ordered for provider prompt caching:

1. a ``system`` message, the static prefix: role and task, the guideline's instructions and
   labels, the output rules; identical for every item of a guideline version;
2. few-shot examples as user/assistant pairs (the answer is the JSON the schema expects);
3. the item as the last ``user`` message, between ``<item id="...">`` and ``</item>``
   markers (the stub LLM finds items by that tag), its text made unable to close them;
   with the guideline's ``context:`` fields that the item has, in a ``<context>`` block
   inside the markers.

The text itself lives in ``prompts/<shape>.v1.jinja``, or ``<shape>.v2.jinja`` for a
guideline with ``context:`` (v1 plus the context): a guideline without context keeps its
v1 prompts, and its labels stay current. The version is the template name plus a hash of
the file, so editing a template changes the version of every prompt made with it.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import ValidationError

from labelloop.core.context import context_lines
from labelloop.core.resources import prompts_dir
from labelloop.core.turns import role_names, turn_noun
from labelloop.core.types import Frozen, Guideline, Item, LabelValue, opaque_id
from labelloop.label.providers.base import Example
from labelloop.label.schemas import (
    answer_json,
    item_text,
    neutralise,
    neutralise_all,
    output_model,
    question_guidelines,
    shape,
    turns_to_label,
    unanswered,
    validation_context,
)

TEMPLATES = {
    "single": "classify.v1.jinja",
    "multi": "classify.v1.jinja",
    "spans": "spans.v1.jinja",
    "turns": "turns.v1.jinja",
    "pairwise": "pairwise.v1.jinja",
    "rating": "rating.v1.jinja",
    "ranking": "ranking.v1.jinja",
    "questions": "questions.v1.jinja",
}
#: the templates of a guideline with ``context:``: v1, and the item's context in its markers
CONTEXT_TEMPLATES = {
    "single": "classify.v2.jinja",
    "multi": "classify.v2.jinja",
    "spans": "spans.v2.jinja",
    "turns": "turns.v2.jinja",
    "pairwise": "pairwise.v2.jinja",
    "rating": "rating.v2.jinja",
    "ranking": "ranking.v2.jinja",
    "questions": "questions.v2.jinja",
}
#: the verbalized confidence shown in few-shot answers (reviewed labels)
EXAMPLE_CONFIDENCE = 90

_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})")


class RenderedPrompt(Frozen):
    """The messages for one item, in OpenAI chat format, and what produced them."""

    messages: tuple[dict[str, Any], ...]
    #: e.g. ``classify.v1:1a2b3c4d``: the template and a hash of its file
    version: str
    #: length of the static prefix (the system message), the part providers can cache
    static_chars: int
    template: str


def template_name(guideline: Guideline) -> str:
    """The template for the guideline's task shape (a v2 one when it has ``context:``)."""
    return (CONTEXT_TEMPLATES if guideline.context else TEMPLATES)[shape(guideline)]


def prompt_version(guideline: Guideline, template: Path | None = None) -> str:
    """The template name and the first 8 hex digits of the sha256 of the template file.

    ``template``: a template file to use instead of the shipped one for the task's shape
    (another prompt version, e.g. ``classify.v2.jinja`` in the project's ``prompts/``).
    """
    path = _template_path(guideline, template)
    return f"{path.name.removesuffix('.jinja')}:{_file_digest(path)}"


def render(
    guideline: Guideline,
    item: Item,
    examples: Sequence[Example] = (),
    *,
    memo: dict[Any, tuple[Any, Any]] | None = None,
    template: Path | None = None,
    order: Sequence[str] | None = None,
) -> RenderedPrompt:
    """The chat messages that ask a model to label one item (deterministic).

    ``memo``: a dict kept across the renders of one batch, so that the static prefix and each
    example's messages are looked up by object identity, and rendered once, not once per item
    (hashing a 77-label guideline for the prefix cache costs more than rendering an item).
    ``template``: a template file other than the shipped one (see ``prompt_version``).
    ``order``: the reply ids of a judging task in the order to show them (default: the
    item's own order); the replies are shown by position only, never by id or model.
    """
    path = _template_path(guideline, template)
    version = prompt_version(guideline, template)
    if memo is None:
        system = _system_prompt(guideline, str(path), version)
    else:
        seen = memo.get(("system", version))
        if seen is None or seen[0] is not guideline:
            made = _system_prompt(guideline, str(path), version)
            seen = memo[("system", version)] = (guideline, made)
        system = seen[1]
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for example in complete_examples(examples, guideline):
        if memo is None:
            messages += _example_messages(guideline, example, path)
            continue
        seen = memo.get(id(example))
        if seen is None or seen[0] is not example:  # keyed by identity; holds the example
            made = tuple(_example_messages(guideline, example, path))
            seen = memo[id(example)] = (example, made)
        messages += [dict(m) for m in seen[1]]
    messages.append({"role": "user", "content": item_message(guideline, item, path, order)})
    return RenderedPrompt(
        messages=tuple(messages), version=version, static_chars=len(system), template=path.name
    )


def complete_examples(examples: Sequence[Example], guideline: Guideline) -> list[Example]:
    """The examples a prompt can show: for a guideline that asks several questions, those
    that answer every question (a few-shot answer is a whole answer, and a reviewer may
    have answered only the questions that needed a person); otherwise all of them."""
    if shape(guideline) != "questions":
        return list(examples)
    return [e for e in examples if not unanswered(e.value, guideline)]


def item_message(
    guideline: Guideline,
    item: Item,
    template: Path | None = None,
    order: Sequence[str] | None = None,
) -> str:
    """The user message that presents one item, spotlighted between item markers."""
    macro = _template(_template_path(guideline, template)).module.item
    return str(macro(_item_view(guideline, item, order))).strip()


# --- templates -------------------------------------------------------------------------------


def _template_path(guideline: Guideline, template: Path | None = None) -> Path:
    return Path(template) if template is not None else prompts_dir() / template_name(guideline)


def _file_digest(path: Path) -> str:
    stat = path.stat()  # a template edited on disk gets a new key, hence a new version
    return _digest_of(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _digest_of(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:8]


@lru_cache(maxsize=4)
def _environment(directory: str) -> Environment:
    return Environment(
        loader=FileSystemLoader(directory),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _template(path: Path):
    return _environment(str(path.parent)).get_template(path.name)


@lru_cache(maxsize=32)
def _system_prompt(guideline: Guideline, path: str, version: str) -> str:
    """The static prefix; ``version`` is in the key so an edited template is re-rendered."""
    macro = _template(Path(path)).module.system
    return str(macro(guideline, instruction_headings(guideline.instructions))).strip()


def instruction_headings(markdown: str) -> list[str]:
    """The headings of the guideline's general instructions, in order (not in code blocks)."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := _HEADING.match(line)):
            out.append(m[1].strip())
    return out


# --- items and examples ---------------------------------------------------------------------


def _item_view(
    guideline: Guideline, item: Item, order: Sequence[str] | None = None
) -> dict[str, Any]:
    """What the item macro shows (:func:`_content_view`) and ``context``: the item's
    ``field: value`` lines of the guideline's ``context:`` fields (empty when it has none).
    Under a guideline with ``context:``, ``<context>`` and ``<text>`` markers are made inert
    too, so that no item, with context or without, can forge a context block."""
    view = _content_view(guideline, item, order)
    if not guideline.context:
        return view | {"context": []}
    view["context"] = [neutralise_all(line) for line in context_lines(item, guideline.context)]
    if view["text"] is not None:
        view["text"] = neutralise_all(view["text"])
    for part in (*(view["turns"] or ()), *view["replies"]):
        part["content"] = neutralise_all(part["content"])
        if "role" in part:
            part["role"] = neutralise_all(part["role"])
    return view


def _content_view(
    guideline: Guideline, item: Item, order: Sequence[str] | None = None
) -> dict[str, Any]:
    """What the item macro shows: the text, or the turns, with markers made inert; for a
    judging task, the replies in ``order`` (by position: no id, no model)."""
    view: dict[str, Any] = {"id": html.escape(item.id, quote=True), "text": None, "turns": None}
    view |= {"target": None, "target_role": None, "user_turns": [], "replies": []}
    view["turn_noun"] = turn_noun(guideline.turn_role)
    kind = shape(guideline)
    if guideline.judges_any:  # the task, or one of its questions, judges replies
        view["id"] = opaque_id(item.id)
        if not item.replies:
            raise ValueError(f"item {item.id!r} has no replies to judge")
        by_id = {r.id: r for r in item.replies}
        ids = list(order) if order is not None else list(item.reply_ids)
        view["replies"] = [
            {"position": n, "content": _turn_content(by_id[rid].render_plain())}
            for n, rid in enumerate(ids, 1)
        ]
    if kind == "questions":
        return _questions_view(guideline, item, view)
    if kind == "spans":  # offsets count in exactly the text shown
        return view | {"text": neutralise(item_text(item))}
    if item.messages is None:
        if kind == "turns":
            raise ValueError(
                f"item {item.id!r} is a plain text, but task {guideline.task!r} labels each "
                f"{view['turn_noun']} of a conversation (unit: turn): import it with `messages`"
            )
        return view | {"text": neutralise(item.text or "")}
    view["turns"] = [
        {"index": i, "role": neutralise(m.speaker), "content": _turn_content(m.plain())}
        for i, m in enumerate(item.messages)
    ]
    if kind == "turns":
        view["user_turns"] = turns_to_label(item, guideline)
        if not view["user_turns"]:
            raise ValueError(
                f"item {item.id!r} has no {view['turn_noun']} to label "
                f"(roles: {role_names(guideline.turn_role)})"
            )
    elif item.target_turn is not None:
        if not 0 <= item.target_turn < len(item.messages):
            raise ValueError(
                f"item {item.id!r}: target_turn {item.target_turn} is not a turn of its "
                f"conversation (turns 0 to {len(item.messages) - 1})"
            )
        view["target"] = item.target_turn
        view["target_role"] = view["turns"][item.target_turn]["role"]
    return view


def _questions_view(guideline: Guideline, item: Item, view: dict[str, Any]) -> dict[str, Any]:
    """The item for a guideline that asks several questions: the text, or the turns (each
    question asked per turn gets the turns it labels: ``view["asked"]``); a transcript as
    plain ``role: content`` lines when a question marks spans in it (offsets count in that
    text). Questions that judge replies are refused."""
    own = question_guidelines(guideline)
    if any(g.judges for g in own.values()) and not view["replies"]:
        raise ValueError(f"item {item.id!r} has no replies to judge")
    per_turn = {q: g for q, g in own.items() if shape(g) == "turns"}
    spans = [q for q, g in own.items() if shape(g) == "spans"]
    view["asked"] = []
    if item.messages is None:
        if per_turn:
            raise ValueError(
                f"item {item.id!r} is a plain text, but task {guideline.task!r} asks question(s) "
                f"{', '.join(per_turn)} of each turn of a conversation: import it with `messages`"
            )
        return view | {"text": neutralise(item.text or "")}
    if spans:
        if per_turn or item.target_turn is not None:
            what = "questions asked of each turn" if per_turn else "a target turn"
            raise ValueError(
                f"item {item.id!r}: task {guideline.task!r} marks spans in a conversation "
                f"(question(s) {', '.join(spans)}) and has {what}; one prompt cannot show the "
                "transcript both as offsets count in it and turn by turn: ask the span "
                "question(s) in a guideline of their own"
            )
        return view | {"text": neutralise(item_text(item))}
    view["turns"] = [
        {"index": i, "role": neutralise(m.speaker), "content": _turn_content(m.plain())}
        for i, m in enumerate(item.messages)
    ]
    for q, g in per_turn.items():
        turns = turns_to_label(item, g)
        if not turns:
            raise ValueError(
                f"item {item.id!r} has no {turn_noun(g.turn_role)} for question {q!r} to label "
                f"(roles: {role_names(g.turn_role)})"
            )
        view["asked"].append({"name": q, "noun": turn_noun(g.turn_role), "turns": turns})
    if item.target_turn is not None:
        if not 0 <= item.target_turn < len(item.messages):
            raise ValueError(
                f"item {item.id!r}: target_turn {item.target_turn} is not a turn of its "
                f"conversation (turns 0 to {len(item.messages) - 1})"
            )
        view["target"] = item.target_turn
        view["target_role"] = view["turns"][item.target_turn]["role"]
    return view


def _turn_content(content: str) -> str:
    """A turn on one line: further lines indented, so no line can pose as a new turn."""
    lines = neutralise(content).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n    ".join(lines)


def _example_messages(
    guideline: Guideline, example: Example, template: Path | None = None
) -> list[dict[str, Any]]:
    """A few-shot pair: the example item as the user, its reviewed answer as the assistant."""
    value = example.value
    rationale: str | dict[str, str]
    if shape(guideline) == "questions":
        rationale = {
            q: _example_rationale(value.answers[q], own)
            for q, own in question_guidelines(guideline).items()
            if value.answers and q in value.answers
        }
    else:
        rationale = _example_rationale(value, guideline)
    answer = answer_json(
        value,
        guideline,
        rationale=rationale,
        section=_example_section(value, guideline),
        confidence=EXAMPLE_CONFIDENCE,
        item=example.item,
    )
    model = output_model(guideline)
    try:
        parsed = model.model_validate(answer, context=validation_context(example.item, guideline))
    except ValidationError as e:
        raise ValueError(
            f"few-shot example {example.item.id!r} does not fit task {guideline.task!r}: {e}"
        ) from None
    dumped = parsed.model_dump(mode="json", by_alias=True)  # a questions answer: by name
    return [
        {"role": "user", "content": item_message(guideline, example.item, template)},
        {"role": "assistant", "content": json.dumps(dumped, ensure_ascii=False)},
    ]


def _example_rationale(value: LabelValue, guideline: Guideline | None = None) -> str:
    if guideline is not None and guideline.judges:  # reply ids mean nothing to a judge
        return "A careful evaluator following the guideline gave this answer."
    names = list(dict.fromkeys(value.names()))
    if value.abstain and not names:
        return "No label of the guideline fits this item."
    if value.spans is not None:
        return "Each span fits the definition of its label in the guideline."
    if value.turns is not None:
        noun = turn_noun(guideline.turn_role if guideline is not None else "user")
        return f"Each {noun} fits the definition of its label in the guideline."
    if len(names) == 1:
        return f"The item fits the definition of {names[0]} in the guideline."
    return f"The item fits the definitions of {', '.join(names)} in the guideline."


def _example_section(value: LabelValue, guideline: Guideline) -> str:
    if guideline.judges:
        headings = instruction_headings(guideline.instructions)
        return headings[0] if headings else ""
    names = value.names()
    return names[0] if names else "Labels"
