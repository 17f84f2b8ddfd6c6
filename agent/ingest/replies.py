"""Rows of judging tasks (``kind: pairwise | rating | ranking``): the replies to compare, and
the answers people gave, checked against the item's reply ids.

The contract's row is ``{"id", "messages" | "text", "replies": [{"id", "content" |
"messages", "model"}, ...]}``. Preference files in the common local layouts are read too,
turned into that row first (``contract_row``):

* ``prompt`` + ``chosen`` / ``rejected``: two replies, the chosen one preferred. The two are
  stored as replies ``a`` and ``b`` in an order drawn from the item's id (the same on every
  import), so that "a" is not always the winner: a judge that always answers the first reply
  would otherwise look perfect;
* ``prompt`` + ``response_a`` / ``response_b`` (+ ``model_a`` / ``model_b``), the winner as
  ``winner`` ("model_a", "model_b", "a", "b", "tie", "tie (bothbad)") or as 0/1 columns
  ``winner_model_a`` / ``winner_model_b`` / ``winner_tie``;
* ``prompt`` + ``reply_a`` / ``reply_b`` (+ ``model_a`` / ``model_b``), the people's verdicts
  as ``human_judgments: [{"annotator", "choice": "A" | "B" | "tie"}]`` (one review each).

Pure functions: ``RowError`` says what is wrong and how to fix it; the caller adds the line.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from labelloop.core.positions import scale_value
from labelloop.core.types import TIE, Guideline, Item, LabelValue, Message, Reply
from labelloop.ingest.checks import RowError, shown

REPLY_EXAMPLE = '[{"id": "a", "content": "..."}, {"id": "b", "content": "..."}]'
#: the keys a preference layout may use, and which layout each belongs to
LAYOUT_KEYS = {
    "chosen": "chosen_rejected",
    "rejected": "chosen_rejected",
    "response_a": "response_ab",
    "response_b": "response_ab",
    "reply_a": "reply_ab",
    "reply_b": "reply_ab",
}
#: fields the layouts consume (not kept in ``meta``)
CONSUMED = frozenset(
    {
        "prompt",
        "chosen",
        "rejected",
        "response_a",
        "response_b",
        "reply_a",
        "reply_b",
        "model_a",
        "model_b",
        "winner",
        "winner_model_a",
        "winner_model_b",
        "winner_tie",
        "human_judgments",
        "gold",
    }
)
_WINNERS = {"model_a": "a", "a": "a", "model_b": "b", "b": "b", "tie": TIE}


def contract_row(raw: dict[str, Any], guideline: Guideline) -> dict[str, Any]:
    """The row in the contract's shape (``replies``, ``messages``, labels as reply ids)."""
    layouts = {LAYOUT_KEYS[k] for k in raw if k in LAYOUT_KEYS}
    if "replies" in raw and layouts:
        key = next(k for k in raw if k in LAYOUT_KEYS)
        raise RowError(f"the row has both 'replies' and {key!r}; keep one way of giving replies")
    if len(layouts) > 1:
        raise RowError(
            "the row mixes preference layouts ("
            + ", ".join(sorted(k for k in raw if k in LAYOUT_KEYS))
            + "); use one: chosen/rejected, response_a/response_b or reply_a/reply_b"
        )
    out = {k: v for k, v in raw.items() if k not in CONSUMED}
    if "prompt" in raw and "messages" not in raw and "text" not in raw:
        out["messages"] = [{"role": "user", "content": _string(raw["prompt"], "prompt")}]
    elif "prompt" in raw and raw["prompt"] not in _user_texts(raw):
        raise RowError(
            "the row has 'prompt' and 'messages' (or 'text') that differ; keep one of them"
        )
    if not layouts:
        return out
    layout = layouts.pop()
    if guideline.kind != "pairwise":
        raise RowError(
            f"{layout.replace('_', '/')} rows hold pairwise preferences, but task "
            f"{guideline.task!r} is kind: {guideline.kind}; give 'replies' and "
            f"{'ratings' if guideline.kind == 'rating' else 'ranking'}"
        )
    if layout == "chosen_rejected":
        return out | _chosen_rejected(raw)
    if layout == "response_ab":
        return out | _response_ab(raw, guideline)
    return out | _reply_ab(raw, guideline)


def _user_texts(raw: dict[str, Any]) -> list[Any]:
    """What a row's ``prompt`` may repeat: its text, or its messages' contents."""
    msgs = raw.get("messages")
    texts = (
        [m.get("content") for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []
    )
    return [raw.get("text"), *texts]


def _pair(first: Any, second: Any, models: tuple[Any, Any], names: tuple[str, str]) -> list:
    replies = []
    for rid, content, model, name in zip("ab", (first, second), models, names, strict=True):
        reply = {"id": rid, "content": _string(content, name, empty=True)}
        if model is not None:
            reply["model"] = _string(model, f"model_{rid}")
        replies.append(reply)
    return replies


def _chosen_rejected(raw: dict[str, Any]) -> dict[str, Any]:
    if "chosen" not in raw or "rejected" not in raw:
        raise RowError("a chosen/rejected row needs both 'chosen' and 'rejected'")
    chosen, rejected = (_content(raw[k], k) for k in ("chosen", "rejected"))
    flip = int(hashlib.sha256(str(raw.get("id")).encode()).hexdigest(), 16) % 2 == 1
    first, second = (rejected, chosen) if flip else (chosen, rejected)
    replies = [{"id": "a", **first}, {"id": "b", **second}]
    return {"replies": replies, "label": "b" if flip else "a"}


def _content(value: Any, name: str) -> dict[str, Any]:
    """A reply as content, or as messages (a chosen/rejected conversation's last turn)."""
    if isinstance(value, list):
        turns = [m for m in value if isinstance(m, dict)]
        if turns and turns[-1].get("role") == "assistant":
            return {"content": _string(turns[-1].get("content"), f"{name}[-1].content", True)}
        raise RowError(
            f"{name!r} is a list but its last message is not the assistant's reply; give the "
            "reply as a string, or end the list with the assistant message"
        )
    return {"content": _string(value, name, empty=True)}


def _ab_replies(raw: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The replies of a ``{prefix}_a`` / ``{prefix}_b`` row, with ``model_a`` / ``model_b``."""
    names = (f"{prefix}_a", f"{prefix}_b")
    if any(n not in raw for n in names):
        raise RowError(f"a {names[0]}/{names[1]} row needs both {names[0]!r} and {names[1]!r}")
    models = (raw.get("model_a"), raw.get("model_b"))
    return {"replies": _pair(raw[names[0]], raw[names[1]], models, names)}


def _response_ab(raw: dict[str, Any], g: Guideline) -> dict[str, Any]:
    out = _ab_replies(raw, "response")
    winner = raw.get("winner")
    flags = [
        k
        for k in ("winner_model_a", "winner_model_b", "winner_tie")
        if raw.get(k) in (1, True, "1")
    ]
    if winner is not None:
        name = str(winner).strip().lower()
        label = TIE if name.startswith("tie") else _WINNERS.get(name)
        if label is None:
            tie = " or tie" if g.allow_tie else ""
            raise RowError(f"'winner' is {shown(winner)}; write model_a or model_b{tie} (or a, b)")
        out["label"] = label
    elif flags:
        if len(flags) > 1:
            raise RowError(f"{' and '.join(flags)} are both set; set exactly one to 1")
        out["label"] = {"winner_model_a": "a", "winner_model_b": "b"}.get(flags[0], TIE)
    if out.get("label") == TIE and not g.allow_tie:
        raise RowError(_no_tie(g))
    return out


def _reply_ab(raw: dict[str, Any], g: Guideline) -> dict[str, Any]:
    out = _ab_replies(raw, "reply")
    judgments = raw.get("human_judgments") or []
    if not isinstance(judgments, list):
        raise RowError('\'human_judgments\' must be a list of {"annotator", "choice"} objects')
    annotations = []
    for i, j in enumerate(judgments, 1):
        if not isinstance(j, dict) or j.get("choice") is None:
            raise RowError(f"human judgment {i} needs an 'annotator' and a 'choice' (A, B or tie)")
        choice = str(j["choice"]).strip().lower()
        if choice not in ("a", "b", TIE):
            raise RowError(f"human judgment {i} has choice {shown(j['choice'])}; use A, B or tie")
        if choice == TIE and not g.allow_tie:
            raise RowError(_no_tie(g))
        note = {"reviewer": str(j.get("annotator") or f"annotator{i}"), "label": choice}
        if j.get("timestamp") is not None:
            note["time"] = str(j["timestamp"])
        annotations.append(note)
    if annotations:
        out["annotations"] = annotations
        # what the votes are read from stays with the item, whole (strength, order shown)
        keep = {k: raw[k] for k in ("human_judgments", "gold") if raw.get(k) is not None}
        out["meta"] = {**keep, **(raw.get("meta") or {})}
    elif raw.get("gold") is not None:
        gold = str(raw["gold"]).strip().lower()
        if gold not in ("a", "b", TIE):
            raise RowError(f"'gold' is {shown(raw['gold'])}; use A, B or tie")
        out["label"] = gold
    return out


def _no_tie(g: Guideline) -> str:
    return (
        f"the row's answer is a tie, but task {g.task!r} does not allow ties: add "
        "`allow_tie: true` to the guideline's front matter, or leave the row's answer out"
    )


def _string(value: Any, name: str, empty: bool = False) -> str:
    """A string field; ``empty``: it may be empty (a model may have replied nothing)."""
    if not isinstance(value, str) or not (empty or value.strip()):
        kind = "a string" if empty else "a non-empty string"
        got = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else shown(value)
        raise RowError(
            f"{name!r} must be {kind}, not {got}: write the text in quotes"
            + (' (an empty reply is "")' if empty else "")
        )
    return value


def parse_replies(value: Any, g: Guideline) -> tuple[Reply, ...]:
    """The row's ``replies``, checked: ids unique, content or messages, 2+ of them
    (exactly 2 for a pairwise task)."""
    if value is None:
        raise RowError(
            f"task {g.task!r} (kind: {g.kind}) judges replies: give 'replies': {REPLY_EXAMPLE}"
        )
    if not isinstance(value, list) or len(value) < 2:
        raise RowError(f"'replies' must be a list of at least 2 replies, e.g. {REPLY_EXAMPLE}")
    if g.kind == "pairwise" and len(value) != 2:
        raise RowError(
            f"a pairwise task compares exactly 2 replies; this row has {len(value)} (use "
            "kind: ranking to order more)"
        )
    out: list[Reply] = []
    for i, r in enumerate(value):
        if not isinstance(r, dict):
            raise RowError(f"reply {i} is not an object; write replies as {REPLY_EXAMPLE}")
        rid = r.get("id")
        if isinstance(rid, int) and not isinstance(rid, bool):
            rid = str(rid)
        if not isinstance(rid, str) or not rid.strip() or rid == TIE or " " in rid:
            raise RowError(
                f"reply {i} needs an 'id' (one word, not 'tie'), e.g. \"a\"; got {shown(rid)}"
            )
        if rid in (x.id for x in out):
            raise RowError(f"two replies have id {rid!r}; give each reply its own id")
        extra = set(r) - {"id", "content", "messages", "model"}
        if extra:
            raise RowError(
                f"reply {rid!r} has unknown field {shown(sorted(extra)[0])}; a reply has id, "
                "content (or messages) and model"
            )
        content, messages = r.get("content"), r.get("messages")
        if (content is None) == (messages is None):
            raise RowError(f"reply {rid!r} needs 'content' (a string) or 'messages', not both")
        model = r.get("model")
        if model is not None and not isinstance(model, str):
            raise RowError(f"reply {rid!r}: 'model' must be a string")
        if content is not None:
            text = _string(content, f"reply {rid} content", empty=True)
            out.append(Reply(id=rid, content=text, model=model))
        else:
            out.append(Reply(id=rid, messages=_messages(messages, rid), model=model))
    return tuple(out)


def _messages(value: Any, rid: str) -> tuple[Message, ...]:
    if not isinstance(value, list) or not value:
        raise RowError(f"reply {rid!r}: 'messages' must be a non-empty list of messages")
    out = []
    for m in value:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise RowError(f"reply {rid!r}: each message needs a 'role' and a 'content' string")
        content = m.get("content")
        if not isinstance(content, str):
            raise RowError(f"reply {rid!r}: each message needs a 'role' and a 'content' string")
        out.append(Message(role=m["role"], content=content))
    return tuple(out)


def reply_chars(replies: tuple[Reply, ...]) -> int:
    return sum(len(r.render_plain()) for r in replies)


# --- answers ---------------------------------------------------------------------------------


def pairwise_value(value: Any, item: Item, g: Guideline) -> LabelValue:
    choices = g.choices(item)
    name = value.strip().lower() if isinstance(value, str) and value.lower() == TIE else value
    if name == TIE and not g.allow_tie:
        raise RowError(_no_tie(g))
    if not isinstance(name, str) or name not in choices:
        raise RowError(
            f"{shown(value)} is not a reply of this item: answer with a reply id "
            f"({', '.join(item.reply_ids)})" + (" or tie" if g.allow_tie else "")
        )
    return LabelValue(label=name)


def rating_value(value: Any, item: Item, g: Guideline) -> LabelValue:
    scale = g.label_names
    if not isinstance(value, dict):
        raise RowError(
            "'ratings' must be an object of reply id -> scale value, e.g. "
            f'{{"{item.reply_ids[0]}": {scale[-1]}, "{item.reply_ids[1]}": {scale[0]}}}'
        )
    missing = [r for r in item.reply_ids if r not in value]
    stray = [k for k in value if k not in item.reply_ids]
    if stray:
        raise RowError(f"'ratings' rates {shown(stray[0])}, which is not a reply of this item")
    if missing:
        raise RowError(f"'ratings' gives no value for reply {missing[0]!r}: rate every reply")
    out: dict[str, int | str] = {}
    for rid, v in value.items():
        if isinstance(v, bool) or str(v) not in scale:
            raise RowError(
                f"rating {shown(v)} of reply {rid!r} is not on the scale; use one of "
                + ", ".join(scale)
            )
        out[rid] = scale_value(v)
    return LabelValue(ratings=out)


def ranking_value(value: Any, item: Item, g: Guideline) -> LabelValue:
    if not isinstance(value, list) or sorted(map(str, value)) != sorted(item.reply_ids):
        raise RowError(
            f"'ranking' must list every reply id once, best first, e.g. "
            f"{list(item.reply_ids)}; got {shown(value)}"
        )
    return LabelValue(ranking=tuple(map(str, value)))
