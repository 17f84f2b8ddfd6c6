"""Renaming, merging and splitting labels: a guideline edit plus a recorded mapping.

``rename OLD NEW`` and ``merge A B --into C`` map old labels to new ones; ``split OLD --into
X,Y`` cannot map (which of X and Y an item is needs a person). Each one

1. edits the guideline file: the front-matter ``labels`` list, the ``### label`` sections
   under ``## Labels`` and counter-examples naming a changed label;
2. records the mapping in the store and applies it to existing reviews and suggestions
   without rewriting history (see ``labelloop.store.mappings``): renamed and merged labels
   are re-appended mapped, split items are reopened and wait for people in ``active``;
3. routes again.

The guideline file is written last, after the store committed, so a failure leaves both
as they were. The pure parts (value mapping, text edits) are the functions below.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labelloop.core.errors import LabelloopError
from labelloop.core.guideline import _EXAMPLE, _FENCE, _TARGET, normalise, parse_guideline
from labelloop.core.types import Guideline, LabelValue, Span
from labelloop.project import Project

_NAME = re.compile(r"^[^\s,()]+$")
_HEAD = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*$")


# --- values --------------------------------------------------------------------------------


def remap_value(value: LabelValue, mapping: dict[str, str | None]) -> LabelValue | None:
    """The value in the new label names; None when one of its labels was split."""
    if any(mapping.get(n, n) is None for n in value.names()):
        return None
    m = lambda name: mapping.get(name, name)  # noqa: E731
    update: dict = {}
    if value.label is not None:
        update["label"] = m(value.label)
    if value.labels is not None:
        update["labels"] = tuple(dict.fromkeys(m(x) for x in value.labels))
    if value.spans is not None:
        update["spans"] = tuple(
            Span(start=s.start, end=s.end, label=m(s.label), text=s.text) for s in value.spans
        )
    if value.turns is not None:
        update["turns"] = {k: m(v) for k, v in value.turns.items()}
    return value.model_copy(update=update)


def apply_all(value: LabelValue, mappings: Sequence[dict]) -> LabelValue | None:
    """The value through each mapping in turn (None once a split label is met)."""
    for mapping in mappings:
        value = remap_value(value, mapping or {})
        if value is None:
            return None
    return value


# --- the guideline text --------------------------------------------------------------------


@dataclass
class _Layout:
    lines: list[str]
    front: tuple[int, int] | None  # the labels block in the front matter: [start, end)
    sections: dict[str, tuple[int, int]]  # label -> its ### section: [start, end)


def _layout(text: str) -> _Layout:
    lines = normalise(text).split("\n")[:-1]
    front, body = None, 0
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is not None:
            body = end + 1
            key = next((i for i in range(1, end) if lines[i].startswith("labels:")), None)
            if key is not None:
                stop = key + 1
                while stop < end and (lines[stop][:1] in (" ", "\t", "-") or not lines[stop]):
                    stop += 1
                front = (key, stop)
    return _Layout(lines, front, _sections(lines, body))


def _sections(lines: list[str], start: int) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    in_labels, fenced, current = False, False, None
    for i in range(start, len(lines) + 1):
        line = lines[i] if i < len(lines) else "## end"
        if _FENCE.match(line):
            fenced = not fenced
        m = None if fenced else _HEAD.match(line)
        if m is None:
            continue
        level, title = len(m[1]), m[2].strip().strip("`").strip()
        if current is not None and level <= 3:
            out[current[0]], current = (current[1], i), None
        if level <= 2:
            in_labels = level == 2 and title.rstrip(":").strip().lower() == "labels"
        elif level == 3 and in_labels:
            current = (title, i)
    return out


def _front_line(names: list[str], old: str) -> str:
    comment = re.search(r"\]\s*(#.*)$", old)
    return f"labels: [{', '.join(names)}]" + (f"  {comment[1]}" if comment else "")


def _counter_target(line: str) -> tuple[str, str] | None:
    """(text, label) of a counter-example line that names its label, else None."""
    m = _EXAMPLE.match(line)
    if not m or not m["kind"].lower().startswith("c"):
        return None
    t = _TARGET.match(m["text"].strip())
    return (t["text"].strip(), t["label"]) if t else None


def _retarget(line: str, mapping: dict[str, str]) -> str:
    """A counter-example line naming a mapped label, made to name the new one."""
    found = _counter_target(line)
    if found is None or found[1] not in mapping:
        return line
    return re.sub(r"\(\s*`?[^()\s,`]+`?\s*\)\s*$", f"({mapping[found[1]]})", line)


def _as_example(line: str, names: set[str]) -> str:
    """A counter-example naming a label now merged into its own section becomes an example."""
    found = _counter_target(line)
    return f"- Example: {found[0]}" if found is not None and found[1] in names else line


def _body(lay: _Layout, name: str) -> list[str]:
    if name not in lay.sections:
        return []
    a, b = lay.sections[name]
    out = lay.lines[a + 1 : b]
    while out and not out[-1].strip():
        out.pop()
    return out


def edit_text(
    text: str, order: list[str], mapping: dict[str, str | None], sections: dict[str, list[str]]
) -> str:
    """The guideline text with the front ``labels`` list set to ``order`` (when present) and
    the sections of the mapped labels replaced by ``sections`` (new name -> body lines, put
    where the first replaced section was); counter-examples follow renamed labels."""
    lay = _layout(text)
    lines = list(lay.lines)
    follow = {k: v for k, v in mapping.items() if v is not None}
    replaced = sorted(lay.sections[n] for n in mapping if n in lay.sections)
    new_block: list[str] = []
    for name, body in sections.items():
        new_block += [f"### {name}", *body, ""]
    edits: list[tuple[int, int, list[str]]] = []
    if lay.front is not None:
        a, b = lay.front
        edits.append((a, b, [_front_line(order, lines[a])]))
    for k, (a, b) in enumerate(replaced):
        edits.append((a, b, new_block if k == 0 else []))
    for a, b, new in sorted(edits, reverse=True):
        lines[a:b] = new
    out = [_retarget(line, follow) for line in lines]
    return normalise("\n".join(out) + "\n")


# --- the three operations ------------------------------------------------------------------


def _check(g: Guideline, old: Sequence[str], new: Sequence[str], allowed: Sequence[str] = ()):
    names = g.label_names
    for name in old:
        if name not in names:
            raise LabelloopError(
                f"Unknown label {name!r} for task {g.task!r} (guideline {g.version}): "
                f"valid labels are {', '.join(names)}"
            )
    for name in new:
        if not _NAME.match(name):
            raise LabelloopError(
                f"Invalid label name {name!r}: one word with no spaces, commas or "
                "parentheses, e.g. card_arrival"
            )
        if name in names and name not in allowed:
            raise LabelloopError(
                f"Label {name!r} already exists in the guideline: pick a new name"
                + (" or merge the two labels (labelloop labels merge)" if old else "")
            )


def rename_text(g: Guideline, old: str, new: str) -> str:
    _check(g, [old], [new])
    lay = _layout(g.text)
    order = [new if n == old else n for n in g.label_names]
    body = {new: _body(lay, old)} if old in lay.sections else {}
    return edit_text(g.text, order, {old: new}, body)


def merge_text(g: Guideline, sources: Sequence[str], into: str) -> str:
    sources = list(dict.fromkeys([*sources, *([into] if into in g.label_names else [])]))
    if len(sources) < 2:
        raise LabelloopError("Merging needs two labels or more: labels merge A B --into C")
    _check(g, sources, [into], allowed=sources)
    lay = _layout(g.text)
    gone = set(sources) | {into}
    body: list[str] = []
    for name in sources:
        part = [_as_example(line, gone) for line in _body(lay, name)]
        if part:
            body += ([""] if body else []) + [f"<!-- merged from {name} -->", *part]
    first = min(g.label_names.index(s) for s in sources)
    order = [n for n in g.label_names if n not in gone]
    order.insert(min(first, len(order)), into)
    has_sections = any(s in lay.sections for s in sources)
    return edit_text(
        g.text, order, dict.fromkeys(sources, into), {into: body} if has_sections else {}
    )


def split_text(g: Guideline, old: str, into: Sequence[str]) -> str:
    if len(into) < 2 or len(set(into)) != len(into):
        raise LabelloopError("Splitting needs two new labels or more: labels split OLD --into X,Y")
    _check(g, [old], into)
    lay = _layout(g.text)
    note = (
        f"<!-- split from {old}: this section is a copy of {old}'s; say what makes an item "
        f"{{name}} and not {' or '.join(into)}, and keep only its own examples -->"
    )
    bodies = {n: [note.replace("{name}", n), *_body(lay, old)] for n in into}
    i = g.label_names.index(old)
    order = [*g.label_names[:i], *into, *g.label_names[i + 1 :]]
    text = edit_text(g.text, order, {old: into[0]}, bodies if old in lay.sections else {})
    return text


# --- applying one ----------------------------------------------------------------------------


def rename(project: Project, old: str, new: str) -> dict:
    """Rename a label in the guideline, the reviews and the suggestions."""
    g = project.guideline()
    return _apply(project, "rename", {old: new}, [new], rename_text(g, old, new), f"{old} -> {new}")


def merge(project: Project, sources: Sequence[str], into: str) -> dict:
    """Merge labels into one (a new name, or one of them)."""
    g = project.guideline()
    text = merge_text(g, sources, into)
    mapping = {s: into for s in dict.fromkeys(sources) if s != into}
    return _apply(project, "merge", mapping, [into], text, f"{' + '.join(sources)} -> {into}")


def split(project: Project, old: str, into: Sequence[str]) -> dict:
    """Split a label in two or more: its items go back to people."""
    g = project.guideline()
    text = split_text(g, old, list(into))
    return _apply(project, "split", {old: None}, list(into), text, f"{old} -> {' | '.join(into)}")


def _apply(
    project: Project, kind: str, mapping: dict, targets: list[str], text: str, note: str
) -> dict:
    from labelloop.route.router import route
    from labelloop.route.state import routing_model

    before = project.guideline()
    path = Path(project.guideline_path)
    after = parse_guideline(text, str(path))
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    try:
        project.store.save_guideline(after.model_copy(update={"path": str(path)}))
        record = {
            "kind": kind,
            "mapping": mapping,
            "targets": targets,
            "guideline_before": before.version,
            "guideline_after": after.version,
        }
        model = routing_model(project)
        remap = lambda v: remap_value(v, mapping)  # noqa: E731
        row = project.store.apply_label_mapping(record, frozenset(mapping), remap, note, model)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    routes = route(project)
    return {
        "id": row.id,
        "kind": kind,
        "change": note,
        "guideline": {"before": before.version, "after": after.version, "path": str(path)},
        "reviews_mapped": row.reviews_mapped,
        "suggestions_mapped": row.suggestions_mapped,
        "items_reopened": row.items_reopened,
        "routes": routes,
    }
