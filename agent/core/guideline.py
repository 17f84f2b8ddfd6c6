"""Guideline files: YAML front matter plus Markdown, parsed into a ``Guideline``.

Layout (see ``guidelines/template.md``)::

    ---
    task: support-intent
    kind: single
    ---
    # Title
    General instructions (any sections but ``## Labels``).
    ## Labels
    ### card_arrival
    Definition.
    - Example: I am still waiting on my card?
    - Counter-example: My card was stolen. (lost_or_stolen_card)

Every error is a ``GuidelineError`` carrying the 1-based line of the file. HTML comments
(``<!-- ... -->``) in the Markdown are notes for guideline authors: they are left out of
the instructions and definitions (they stay in ``text``).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, NoReturn

import yaml

from labelloop.core.errors import GuidelineError
from labelloop.core.marks import broken_mark, marked_labels
from labelloop.core.turns import TURN_ROLES
from labelloop.core.types import JUDGE_KINDS, Guideline, LabelDef, Question

FRONT_KEYS = (
    "task",
    "unit",
    "kind",
    "labels",
    "scale",
    "allow_abstain",
    "allow_tie",
    "turn_role",
    "questions",
    "context",
)
#: what a question of ``questions:`` may say about itself
QUESTION_KEYS = ("kind", "labels", "scale", "allow_abstain", "allow_tie", "unit", "turn_role")
#: names a question cannot take: fields of import rows and columns of exports, where an
#: answer keyed by such a name could not be told from the field
RESERVED_NAMES = frozenset(
    {"id", "text", "messages", "conversations", "target_turn", "replies", "meta", "label"}
    | {"labels", "spans", "turns", "choices", "ratings", "ranking", "abstain", "annotations"}
    | {"reviews", "label_source", "route", "suggestion", "suggested", "confidence", "model"}
    | {"rationale", "reviewers", "reviewed_at", "prompt", "chosen", "rejected", "answers"}
    | {"prompt_version", "guideline_version", "request", "response"}
)
#: front-matter keys that belong to each question when the guideline asks several
PER_QUESTION = ("kind", "labels", "scale", "allow_abstain", "allow_tie", "turn_role")
CHOICES: dict[str, tuple[str, ...]] = {
    "unit": ("text", "conversation", "turn"),
    "turn_role": TURN_ROLES,
    "kind": ("single", "multi", "spans", "pairwise", "rating", "ranking"),
    "scale": ("nominal", "ordinal"),
}

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*))?$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_EXAMPLE = re.compile(
    r"^\s*[-*+]\s+(?:\*\*|__)?(?P<kind>counter[- _]?examples?|examples?)(?:\*\*|__)?"
    r"\s*:(?:\*\*|__)?\s*(?P<text>.*)$",
    re.IGNORECASE,
)
_NESTED_BULLET = re.compile(r"^\s+[-*+]\s+(.*)$")
_TARGET = re.compile(r"^(?P<text>.*?)\s*\(\s*`?(?P<label>[^()\s,`]+)`?\s*\)$")
_BAD_NAME = re.compile(r"[\s,()]")
_QUOTES = {'"': '"', "\u201c": "\u201d"}


@dataclass
class _Front:
    """What the front matter says, with the file line of each key and label."""

    data: dict[str, Any]
    first: int  # line of the opening '---'
    end: int  # 0-based index of the closing '---'
    key_lines: dict[str, int] = field(default_factory=dict)
    label_lines: list[int] = field(default_factory=list)
    context_lines: list[int] = field(default_factory=list)
    #: the YAML node of ``questions`` and the file line of the block's first line
    questions_node: Any = None
    offset: int = 0

    def line(self, key: str) -> int:
        return self.key_lines.get(key, self.first)


@dataclass
class _Section:
    """One ``### name`` section under ``## Labels``."""

    name: str
    line: int
    body: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Body:
    title: str = ""
    instructions: list[str] = field(default_factory=list)
    labels_line: int | None = None
    sections: list[_Section] = field(default_factory=list)
    #: a guideline with questions: each ``## question`` heading's line, its text before
    #: the first ``###`` and its label sections
    question_lines: dict[str, int] = field(default_factory=dict)
    question_text: dict[str, list[str]] = field(default_factory=dict)
    question_sections: dict[str, list[_Section]] = field(default_factory=dict)


def normalise(text: str) -> str:
    """Canonical text: \\n line endings, no trailing spaces or blank lines, one final \\n."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def guideline_version(text: str) -> str:
    """The version of a guideline text: 12 hex chars of the sha256 of its normalised form."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:12]


def load_guideline(path: str | PathLike[str]) -> Guideline:
    """Read and parse a UTF-8 guideline file."""
    where = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        reason = e.strerror or str(e)
        raise GuidelineError(
            f"cannot read the guideline file ({reason}): check the path, or copy "
            "guidelines/template.md to start one",
            path=where,
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise GuidelineError(
            f"the file is not UTF-8 text (byte 0x{raw[e.start]:02x}): re-save it as UTF-8, "
            f"e.g. `iconv -f latin1 -t utf-8 {where} > fixed.md`",
            path=where,
            line=line,
        ) from None
    return parse_guideline(text, where).model_copy(update={"path": where})


def parse_guideline(text: str, source: str = "<guideline>") -> Guideline:
    """Parse guideline text; ``source`` names it in error messages."""
    norm = normalise(text)
    lines = norm.split("\n")[:-1] if norm else []
    front = _read_front(lines, source)
    _check_front(front, source)
    data = front.data
    fronts = _question_fronts(front, source) if "questions" in data else {}
    body = _split_body(_body_lines(lines, front.end + 1, source), source, set(fronts))
    questions = tuple(
        _question(name, qf, body, data.get("unit", "text"), source) for name, qf in fronts.items()
    )
    labels = () if questions else _build_labels(front, body, source)
    kind = data.get("kind", "single")
    return Guideline(
        questions=questions,
        task=data["task"],
        unit=data.get("unit", "conversation" if kind in JUDGE_KINDS else "text"),
        turn_role=data.get("turn_role", "user"),
        kind=kind,
        labels=labels,
        scale=data.get("scale", "ordinal" if kind == "rating" else "nominal"),
        allow_abstain=data.get("allow_abstain", False),
        allow_tie=data.get("allow_tie", False),
        context=tuple(data.get("context", ())),
        title=body.title,
        instructions="\n".join(body.instructions).strip("\n"),
        text=norm,
        version=guideline_version(norm),
    )


def _fail(source: str, line: int, message: str) -> NoReturn:
    raise GuidelineError(message, path=source, line=line)


def _hint(word: str, valid: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, valid, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _listing(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# -- front matter -------------------------------------------------------------------------


def _read_front(lines: list[str], src: str) -> _Front:
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None or lines[start] != "---":
        _fail(
            src,
            (start or 0) + 1,
            "missing front matter: a guideline starts with a '---' line, then `task: NAME` "
            "(and optionally unit, kind, labels, scale, allow_abstain), then a closing '---' "
            "line; see guidelines/template.md",
        )
    end = next((i for i in range(start + 1, len(lines)) if lines[i] == "---"), None)
    if end is None:
        _fail(
            src,
            start + 1,
            "the front matter opened here is never closed: add a '---' line after its last key",
        )
    front = _Front(data={}, first=start + 1, end=end)
    _load_yaml("\n".join(lines[start + 1 : end]), front, src)
    return front


def _load_yaml(block: str, front: _Front, src: str) -> None:
    offset = front.first + 1  # file line of the block's first line
    loader = yaml.SafeLoader(block)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        _fail(
            src,
            offset + mark.line if mark else front.first,
            f"invalid YAML in the front matter: {problem}; fix the syntax "
            "(indent with spaces, not tabs; quote values that contain ': ' or ' #')",
        )
    finally:
        loader.dispose()
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode | None):
        _fail(
            src,
            offset + node.start_mark.line if node else front.first,
            "the front matter must be `key: value` lines: " + ", ".join(FRONT_KEYS),
        )
    front.data = data
    for key_node, value_node in node.value if node else ():
        key = str(key_node.value)
        line = offset + key_node.start_mark.line
        if key in front.key_lines:
            _fail(
                src,
                line,
                f"front-matter key '{key}' appears twice (first at line "
                f"{front.key_lines[key]}): keep one",
            )
        front.key_lines[key] = line
        if key == "labels" and isinstance(value_node, yaml.SequenceNode):
            front.label_lines = [offset + n.start_mark.line for n in value_node.value]
        if key == "context" and isinstance(value_node, yaml.SequenceNode):
            front.context_lines = [offset + n.start_mark.line for n in value_node.value]
        if key == "questions":
            front.questions_node, front.offset = value_node, offset


def _check_front(front: _Front, src: str) -> None:
    data = front.data
    for key in data:
        if key not in FRONT_KEYS:
            _fail(
                src,
                front.line(str(key)),
                f"unknown front-matter key '{key}'"
                f"{_hint(str(key), FRONT_KEYS)}: valid keys are {', '.join(FRONT_KEYS)}",
            )
    if "task" not in data:
        _fail(
            src,
            front.first,
            "missing `task` in the front matter: add a line like "
            "`task: support-intent` (the name of the task)",
        )
    if not isinstance(data["task"], str) or not data["task"].strip():
        _fail(
            src, front.line("task"), "`task` must be a non-empty name, e.g. `task: support-intent`"
        )
    for key, valid in CHOICES.items():
        if key in data and data[key] not in valid:
            _fail(
                src, front.line(key), f"invalid {key} '{data[key]}': use one of {', '.join(valid)}"
            )
    for flag in ("allow_abstain", "allow_tie"):
        if flag in data and not isinstance(data[flag], bool):
            _fail(src, front.line(flag), f"{flag} must be true or false, not '{data[flag]}'")
    kind = data.get("kind", "single")
    if "turn_role" in data and data.get("unit") != "turn":
        _fail(
            src,
            front.line("turn_role"),
            f"turn_role says whose turns are labeled one by one, so it needs unit: turn "
            f"(this task is unit: {data.get('unit', 'text')}); add `unit: turn` or remove it",
        )
    if "allow_tie" in data and kind != "pairwise":
        _fail(
            src,
            front.line("allow_tie"),
            f"allow_tie applies to kind: pairwise only (this task is kind: {kind}); remove it",
        )
    if kind in JUDGE_KINDS and data.get("unit", "conversation") == "turn":
        _fail(
            src,
            front.line("unit"),
            f"kind: {kind} judges the replies to a conversation: use unit: conversation "
            "(or unit: text), not unit: turn",
        )
    if kind in ("pairwise", "ranking") and "labels" in data:
        _fail(
            src,
            front.line("labels"),
            f"kind: {kind} answers with reply ids, so it has no labels: remove `labels` "
            "(describe what makes a reply better in the instructions)",
        )
    if "questions" in data:
        for key in PER_QUESTION:
            if key in data:
                _fail(
                    src,
                    front.line(key),
                    f"`{key}` belongs to each question when the guideline asks several: "
                    f"move it into the questions (e.g. `name: {{kind: single, labels: [a, b]}}`)",
                )
        if data.get("unit") == "turn":
            _fail(
                src,
                front.line("unit"),
                "with questions, `unit` is text or conversation; a question asked of each "
                "turn says `unit: turn` itself (e.g. `intent: {kind: single, unit: turn, "
                "labels: [a, b]}`)",
            )
    if "labels" in data:
        data["labels"] = _front_labels(front, src)
    if "context" in data:
        data["context"] = _front_context(front, src)


def _question_fronts(front: _Front, src: str) -> dict[str, _Front]:
    """Each question's own front matter (a ``_Front`` with its file lines), checked."""
    node, line = front.questions_node, front.line("questions")
    example = "`questions:` then one `name: {kind: single, labels: [a, b]}` line per question"
    if not isinstance(node, yaml.MappingNode) or not node.value:
        _fail(src, line, f"`questions` must name at least one question: write {example}")
    out: dict[str, _Front] = {}
    for key_node, value_node in node.value:
        at = front.offset + key_node.start_mark.line
        name = str(key_node.value)
        if not name or _BAD_NAME.search(name):
            _fail(
                src,
                at,
                f"invalid question name '{name}': a question name is one word with no spaces, "
                "commas or parentheses, e.g. `helpfulness`",
            )
        if name.lower() in RESERVED_NAMES:
            _fail(
                src,
                at,
                f"question name '{name}' is also a field of import rows and exports, so its "
                f"answers could not be told from that field: rename it (e.g. `{name}_q`)",
            )
        if name in out:
            _fail(
                src,
                at,
                f"question '{name}' is defined twice (first at line {out[name].first}): keep one",
            )
        if not isinstance(value_node, yaml.MappingNode):
            _fail(src, at, f"question '{name}' must be a mapping: write {example}")
        qf = _Front(data={}, first=at, end=0)
        for k_node, v_node in value_node.value:
            key, k_line = str(k_node.value), front.offset + k_node.start_mark.line
            if key not in QUESTION_KEYS:
                _fail(
                    src,
                    k_line,
                    f"unknown key '{key}' in question '{name}'{_hint(key, QUESTION_KEYS)}: "
                    f"valid keys are {', '.join(QUESTION_KEYS)}",
                )
            if key in qf.key_lines:
                _fail(src, k_line, f"question '{name}' gives '{key}' twice: keep one")
            qf.key_lines[key] = k_line
            qf.data[key] = yaml.SafeLoader("").construct_object(v_node, deep=True)
            if key == "labels" and isinstance(v_node, yaml.SequenceNode):
                qf.label_lines = [front.offset + n.start_mark.line for n in v_node.value]
        _check_question(name, qf, front.data.get("unit", "text"), src)
        out[name] = qf
    return out


def _check_question(name: str, qf: _Front, top_unit: str, src: str) -> None:
    data, what = qf.data, f"question '{name}'"
    for key, valid in (*CHOICES.items(), ("unit", ("item", "turn"))):
        if key in data and key != "unit" and data[key] not in valid:
            _fail(
                src,
                qf.line(key),
                f"{what}: invalid {key} '{data[key]}': use one of {', '.join(valid)}",
            )
    if "unit" in data and data["unit"] not in ("item", "turn"):
        _fail(src, qf.line("unit"), f"{what}: invalid unit '{data['unit']}': use item or turn")
    for flag in ("allow_abstain", "allow_tie"):
        if flag in data and not isinstance(data[flag], bool):
            _fail(src, qf.line(flag), f"{what}: {flag} must be true or false, not '{data[flag]}'")
    kind = data.get("kind", "single")
    per_turn = data.get("unit") == "turn"
    if per_turn and top_unit != "conversation":
        _fail(
            src,
            qf.line("unit"),
            f"{what} is asked of each turn (unit: turn), which needs `unit: conversation` at "
            f"the top of the front matter (it is {top_unit})",
        )
    if per_turn and kind not in ("single", "multi"):
        _fail(
            src,
            qf.line("unit"),
            f"{what}: kind: {kind} cannot be asked of each turn; remove unit: turn",
        )
    if "turn_role" in data and not per_turn:
        _fail(
            src,
            qf.line("turn_role"),
            f"{what}: turn_role needs unit: turn; add it or remove turn_role",
        )
    if "allow_tie" in data and kind != "pairwise":
        _fail(
            src,
            qf.line("allow_tie"),
            f"{what}: allow_tie applies to kind: pairwise only; remove it",
        )
    if kind in ("pairwise", "ranking") and "labels" in data:
        _fail(
            src,
            qf.line("labels"),
            f"{what}: kind: {kind} answers with reply ids, so it has no labels: remove `labels`",
        )
    if "labels" in data:
        data["labels"] = _front_labels(qf, src)


def _question(name: str, qf: _Front, body: _Body, top_unit: str, src: str) -> Question:
    qbody = _Body(
        labels_line=body.question_lines.get(name),
        sections=body.question_sections.get(name, []),
    )
    data = qf.data
    kind = data.get("kind", "single")
    return Question(
        name=name,
        kind=kind,
        labels=_build_labels(qf, qbody, src, f"## {name}"),
        unit=data.get("unit", "item"),
        turn_role=data.get("turn_role", "user"),
        allow_tie=data.get("allow_tie", False),
        scale=data.get("scale", "ordinal" if kind == "rating" else "nominal"),
        allow_abstain=data.get("allow_abstain", False),
        instructions="\n".join(body.question_text.get(name, [])).strip("\n"),
        line=qf.first,
    )


def _front_labels(front: _Front, src: str) -> list[str]:
    value, line = front.data["labels"], front.line("labels")
    if not isinstance(value, list):
        _fail(
            src,
            line,
            "`labels` must be a list of label names, e.g. "
            "`labels: [card_arrival, lost_or_stolen_card]`",
        )
    if not value:
        _fail(
            src,
            line,
            "`labels` is empty: list the label names, or remove the key to take "
            "them from the `### name` sections under `## Labels`",
        )
    names: list[str] = []
    for item, item_line in zip(value, front.label_lines, strict=True):
        # Whole numbers are fine for ordinal scales (1-5); YAML's yes/no/null are not names.
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str):
            _fail(
                src,
                item_line,
                f"label {item!r} in `labels` is not a name: `labels` must "
                'be a list of strings (quote values YAML reads as true/false/null, e.g. "yes")',
            )
        _check_name(item, item_line, src)
        if item in names:
            first = front.label_lines[names.index(item)]
            _fail(
                src,
                item_line,
                f"label '{item}' is listed twice in `labels` (first at line {first}): remove one",
            )
        names.append(item)
    return names


def _front_context(front: _Front, src: str) -> list[str]:
    """The ``meta`` fields of ``context:``: names, or dotted paths into nested objects."""
    value, line = front.data["context"], front.line("context")
    example = "e.g. `context: [requested_slot]`"
    if isinstance(value, str) and value.strip():
        example = f"here `context: [{value.strip()}]`"
    if not isinstance(value, list) or not value:
        what = "is empty" if value is None or value == [] else f"is {value!r}"
        _fail(
            src,
            line,
            f"`context` {what}: it must be a list of the `meta` fields shown with each item, "
            f"{example} (or remove the key)",
        )
    fields: list[str] = []
    for name, name_line in zip(value, front.context_lines, strict=True):
        if not isinstance(name, str) or not name.strip():
            _fail(
                src,
                name_line,
                f"context field {name!r} is not a field name: `context` must be a list of "
                f"non-empty `meta` field names, {example} (quote names YAML reads as "
                'numbers or true/false/null, e.g. "2")',
            )
        if name != name.strip() or "" in name.split("."):
            _fail(
                src,
                name_line,
                f"invalid context field '{name}': a `meta` key, or a dotted path into nested "
                "objects such as `slot.requested`, with no empty part or surrounding spaces",
            )
        if name in fields:
            first = front.context_lines[fields.index(name)]
            _fail(
                src,
                name_line,
                f"context field '{name}' is listed twice (first at line {first}): remove one",
            )
        fields.append(name)
    return fields


def _check_name(name: str, line: int, src: str) -> None:
    if not name or _BAD_NAME.search(name):
        shown = f"'{name}'" if name else "(empty)"
        _fail(
            src,
            line,
            f"invalid label name {shown}: a label name is one word with no "
            "spaces, commas or parentheses, e.g. card_arrival rather than 'card arrival'",
        )


# -- Markdown body ------------------------------------------------------------------------


def _heading(text: str) -> tuple[int, str] | None:
    m = _HEADING.match(text)
    if not m:
        return None
    title = re.sub(r"(?:^|\s+)#+$", "", (m[2] or "").strip()).strip()
    return len(m[1]), title


def _drop_comments(text: str, inside: bool) -> tuple[str, bool, bool]:
    """``text`` without HTML comments, whether a comment is still open, whether one was seen."""
    out, seen = "", inside
    while text:
        if inside:
            end = text.find("-->")
            if end < 0:
                return out, True, True
            text, inside = text[end + 3 :], False
        else:
            start = text.find("<!--")
            if start < 0:
                return out + text, False, seen
            out, text, inside, seen = out + text[:start], text[start + 4 :], True, True
    return out, inside, seen


def _body_lines(lines: list[str], first: int, src: str) -> list[tuple[int, str, Any]]:
    """(line number, text, heading or None) per body line; code fences hold no headings."""
    out: list[tuple[int, str, Any]] = []
    fence, comment_at = "", 0
    for i in range(first, len(lines)):
        text = lines[i]
        if not fence:
            was_open = bool(comment_at)
            text, still_open, seen = _drop_comments(text, was_open)
            comment_at = (comment_at or i + 1) if still_open else 0
            text = text.rstrip()
            if seen and not text.strip():
                continue
        m = _FENCE.match(text)
        if fence:
            if m and m[1][0] == fence[0] and len(m[1]) >= len(fence) and m.end() == len(text):
                fence = ""
            out.append((i + 1, text, None))
        else:
            fence = m[1] if m else ""
            out.append((i + 1, text, None if m else _heading(text)))
    if comment_at:
        _fail(src, comment_at, "the HTML comment opened here is never closed: add '-->'")
    return out


def _split_body(
    lines: list[tuple[int, str, Any]], src: str, questions: set[str] | None = None
) -> _Body:
    """The title, the general instructions and the label sections: under ``## Labels``,
    or, for a guideline with ``questions``, under each question's ``## name``."""
    body, section, in_labels, seen_heading = _Body(), None, False, False
    asked: str | None = None  # the question whose '## name' section we are in
    for no, text, head in lines:
        if head and head[0] <= 2 and questions:
            asked = head[1].strip("`").strip() if head[0] == 2 else None
            if asked is not None and asked.rstrip(":").lower() == "labels":
                _fail(
                    src,
                    no,
                    "this guideline asks several questions: put each question's labels "
                    "(`### label` sections) under its own `## question-name` heading, "
                    "not '## Labels'",
                )
            if asked not in questions:
                asked = None
            elif asked in body.question_lines:
                _fail(
                    src,
                    no,
                    f"a second '## {asked}' section (the first is at line "
                    f"{body.question_lines[asked]}): put the question under one heading",
                )
            else:
                body.question_lines[asked], section, seen_heading = no, None, True
                body.question_text[asked], body.question_sections[asked] = [], []
                continue
        if asked is not None:
            if head and head[0] == 3:
                section = _new_section(head[1], no, body.question_sections[asked], src)
            elif section is not None:
                section.body.append((no, text))
            else:
                body.question_text[asked].append(text)
            continue
        if head and head[0] <= 2:
            in_labels = head[0] == 2 and head[1].rstrip(":").strip().lower() == "labels"
            if in_labels and body.labels_line:
                _fail(
                    src,
                    no,
                    "a second '## Labels' section (the first is at line "
                    f"{body.labels_line}): put every label under one '## Labels' heading",
                )
            if in_labels:
                body.labels_line, section, seen_heading = no, None, True
                continue
            if head[0] == 1 and not seen_heading:
                body.title, seen_heading = head[1], True
                continue
        seen_heading = seen_heading or head is not None
        if in_labels and head and head[0] == 3:
            section = _new_section(head[1], no, body.sections, src)
        elif in_labels and section:
            section.body.append((no, text))
        elif text.strip() or (body.instructions and body.instructions[-1].strip()):
            # general instructions (and any text under '## Labels' before its first label);
            # runs of blank lines, left where comments or '## Labels' were, become one
            body.instructions.append(text)
    return body


def _new_section(heading: str, line: int, sections: list[_Section], src: str) -> _Section:
    name = heading.strip("`").strip()
    _check_name(name, line, src)
    for other in sections:
        if other.name == name:
            _fail(
                src,
                line,
                f"the label section '### {name}' appears twice (first at line "
                f"{other.line}): merge the two sections",
            )
    sections.append(_Section(name, line))
    return sections[-1]


# -- label sections -----------------------------------------------------------------------


@dataclass
class _Parsed:
    definition: list[str] = field(default_factory=list)
    examples: list[list[Any]] = field(default_factory=list)  # [kind, text, line]


def _parse_section(section: _Section, src: str) -> _Parsed:
    """Split a label section into definition lines and (counter-)examples."""
    out, header, last_is_item = _Parsed(), None, False
    for no, text in section.body:
        m = _EXAMPLE.match(text)
        nested = _NESTED_BULLET.match(text)
        if m:
            _close_header(header, out, src)
            kind = "counter" if m["kind"].lower().startswith("c") else "example"
            header = [kind, no, 0] if not m["text"].strip() else None
            if not header:
                out.examples.append([kind, m["text"], no])
            last_is_item = header is None
        elif header and nested:  # "- Examples:" followed by indented bullets
            out.examples.append([header[0], nested[1], no])
            header[2] += 1
            last_is_item = True
        elif last_is_item and text[:1].isspace() and text.strip():  # wrapped example line
            out.examples[-1][1] += " " + text.strip()
        elif not text.strip():
            last_is_item = False
            if out.definition and out.definition[-1]:  # keep paragraph breaks, once
                out.definition.append("")
        else:
            _close_header(header, out, src)
            header, last_is_item = None, False
            out.definition.append(text)
    _close_header(header, out, src)
    return out


def _close_header(header: list[Any] | None, out: _Parsed, src: str) -> None:
    if header and not header[2]:
        word = "Counter-example" if header[0] == "counter" else "Example"
        _fail(
            src,
            header[1],
            f"empty {word}: write its text after the colon, or as indented "
            "'- ' bullets on the lines below it",
        )


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        return text[1:-1].strip()
    return text


def _label_def(
    name: str,
    line: int,
    section: _Section | None,
    names: list[str],
    src: str,
    marks: bool = False,
) -> LabelDef:
    """A label's section; ``marks``: its examples may mark spans (``[text](label)``), whose
    labels must be the guideline's."""
    if section is None:
        return LabelDef(name=name, line=line)
    parsed = _parse_section(section, src)
    examples, counters = [], []
    for kind, text, no in parsed.examples:
        if marks:
            _check_marks(text, no, names, src)
        if kind == "example":
            examples.append(_unquote(text))
            continue
        m = _TARGET.match(text.strip())
        target = m["label"] if m else None
        if target is not None and target not in names:
            _fail(
                src,
                no,
                f"the counter-example names an unknown label '{target}'"
                f"{_hint(target, names)}: valid labels are {_listing(names)} (if the "
                "parentheses are part of the text, add the label after them)",
            )
        if target == name:
            _fail(
                src,
                no,
                f"a counter-example under '### {name}' says it belongs to "
                f"'{name}' itself: name the label it belongs to, or make it an Example",
            )
        counter = _unquote(m["text"] if m else text)
        if not counter:
            _fail(src, no, "empty Counter-example: write its text before the (label)")
        counters.append((counter, target))
    definition = "\n".join(parsed.definition).strip("\n")
    return LabelDef(
        name=name,
        definition=definition,
        examples=tuple(examples),
        counter_examples=tuple(counters),
        line=section.line,
    )


def _check_marks(text: str, no: int, names: list[str], src: str) -> None:
    empty = re.search(r"\[\s*\]\([^)]*\)", text)
    if empty is not None:
        _fail(
            src,
            no,
            f"the example has an empty mark ('{empty.group()}'): put the span's words between "
            "the brackets, [words](label)",
        )
    broken = broken_mark(text)
    if broken is not None:
        _fail(
            src,
            no,
            f"the example has a bracket that marks no span ('{broken}'): write each span as "
            "[words](label), with no brackets in the words",
        )
    for label in marked_labels(text):
        if label not in names:
            _fail(
                src,
                no,
                f"the example marks a span as '{label}', which is not a label"
                f"{_hint(label, names)}: write [words](label) with one of {_listing(names)}",
            )


def _build_labels(
    front: _Front, body: _Body, src: str, container: str = "## Labels"
) -> tuple[LabelDef, ...]:
    kind = front.data.get("kind", "single")
    if kind in ("pairwise", "ranking"):
        if body.sections:
            first = body.sections[0]
            _fail(
                src,
                first.line,
                f"kind: {kind} answers with reply ids, so '### {first.name}' under "
                f"'{container}' is not a label: move the text into the instructions "
                "(e.g. under '## Criteria')",
            )
        return ()
    listed = front.data.get("labels")
    if listed is not None:
        for section in body.sections:
            if section.name not in listed:
                _fail(
                    src,
                    section.line,
                    f"the label section '### {section.name}' is not in "
                    f"the front-matter `labels` list{_hint(section.name, listed)}: add it "
                    f"to `labels` or fix the name; listed labels are {_listing(listed)}",
                )
        order = list(zip(listed, front.label_lines, strict=True))
    else:
        order = [(s.name, s.line) for s in body.sections]
    if not order:
        _fail(
            src,
            body.labels_line or front.first,
            "no labels: add `labels: [a, b]` to the "
            f"front matter, or a '{container}' section with one '### label_name' per label"
            + (
                " (for kind: rating, the scale: `labels: [1, 2, 3, 4, 5]`)"
                if kind == "rating"
                else ""
            ),
        )
    if kind in ("single", "rating") and len(order) < 2:
        _fail(
            src,
            order[0][1],
            f"kind: {kind} needs at least 2 labels, found only "
            f"'{order[0][0]}': add another label, or use kind: multi or kind: spans",
        )
    names = [name for name, _ in order]
    sections = {s.name: s for s in body.sections}
    marks = kind == "spans"
    return tuple(_label_def(n, line, sections.get(n), names, src, marks) for n, line in order)
