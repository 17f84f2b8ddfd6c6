"""Redaction: personal data out of item text before it goes to a hosted model (an option), and
secrets out of everything the LLM call log writes (always).

:func:`redact` replaces e-mail addresses, IBANs (mod-97 checked), payment card numbers (13-19
digits, Luhn checked) and phone numbers (7-15 digits, international or national formats) with
``[EMAIL]``, ``[IBAN]``, ``[CARD]`` and ``[PHONE]``. Dates, times, money amounts, grouped
numbers, version strings and IP addresses are left alone, and so are bare digit runs (order
or account numbers) unless they look like a phone number by their prefix (``+``, ``00``, a
trunk ``0``) or by the words before them ("call me on ..."). Redacted text is shorter or
longer than the original, so span offsets a model returns refer to the redacted text.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from labelloop.core.context import context_of, context_text
from labelloop.core.types import Item, Message

PLACEHOLDERS = {"email": "[EMAIL]", "iban": "[IBAN]", "card": "[CARD]", "phone": "[PHONE]"}
REDACTED = "[REDACTED]"

# ---------------------------------------------------------------- personal data

_EMAIL = re.compile(
    r"[\w.%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", re.IGNORECASE)
#: IBAN length per country (SWIFT registry); other countries need only pass mod-97
IBAN_LENGTHS = {
    **dict.fromkeys(["NO"], 15),
    **dict.fromkeys(["BE"], 16),
    **dict.fromkeys(["DK", "FI", "FO", "GL", "NL"], 18),
    **dict.fromkeys(["MK", "SI"], 19),
    **dict.fromkeys(["AT", "BA", "EE", "KZ", "LT", "LU", "XK"], 20),
    **dict.fromkeys(["CH", "HR", "LI", "LV"], 21),
    **dict.fromkeys(["BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA"], 22),
    **dict.fromkeys(["AE", "GI", "IL", "IQ", "TL"], 23),
    **dict.fromkeys(["AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"], 24),
    **dict.fromkeys(["PT", "ST"], 25),
    **dict.fromkeys(["IS", "TR"], 26),
    **dict.fromkeys(["FR", "GR", "IT", "MC", "MR", "SM"], 27),
    **dict.fromkeys(["AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "PL", "SV"], 28),
    **dict.fromkeys(["BR", "EG", "PS", "QA", "UA"], 29),
    **dict.fromkeys(["JO", "KW", "MU"], 30),
    **dict.fromkeys(["MT", "SC"], 31),
    **dict.fromkeys(["LC"], 32),
}
_NOT_GLUED = r"(?<![\w+.,/-])"
_END = r"(?![\w]|[.,/:-]?\d)"
_CARD = re.compile(
    rf"{_NOT_GLUED}(?:\d{{13,19}}|\d{{4}}([ -])\d{{4}}\1\d{{4}}\1\d{{4}}(?:\1\d{{1,3}})?"
    rf"|\d{{4}}([ -])\d{{6}}\2\d{{4,5}}){_END}"
)
#: ISO codes, upper case only ("try", "ron" and "nok" are words too)
_CURRENCY = r"(?-i:USD|EUR|GBP|CHF|JPY|CAD|AUD|NZD|INR|SEK|NOK|DKK|PLN|CZK|HUF|RON|BGN|TRY|ZAR)"
_AMOUNT = r"(?:\d{1,3}(?:[,.' ]\d{3})+|\d+)(?:[.,]\d{1,2})?"
#: number shapes that are never phone numbers; matched first so the phone rule skips them
_NOT_PHONE = (
    rf"{_NOT_GLUED}(?:\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}}){_END}"
    r"|\d{1,2}:\d{2}(?::\d{2})?"
    rf"|(?:[$€£¥₹]|\b{_CURRENCY})\s?{_AMOUNT}"
    rf"|{_NOT_GLUED}{_AMOUNT}\s?(?:{_CURRENCY}|dollars?|euros?|pounds?|bucks|quid)\b"
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?:\.\d{3})+,\d+"
    r"|\bv\d+(?:\.\d+)+|\bversions?\s+\d+(?:\.\d+)+"
    r"|\b\d{5}-\d{4}\b"  # a US ZIP+4 code
)
_AREA = r"(?:\(\d{1,5}\)[ .-]?)"
_PHONE = rf"{_NOT_GLUED}(?:\+\s?)?{_AREA}?\d(?:[ .\-/]?{_AREA}?\d){{5,17}}{_END}"
_NUMBERS = re.compile(rf"(?P<skip>{_NOT_PHONE})|(?P<phone>{_PHONE})", re.IGNORECASE)
_GROUPS = re.compile(r"[ .\-/()]+")
_PHONE_WORDS = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|call|ring|whatsapp|sms|text|fax|contact|reach"
    r"|my\s+number|number\s+is)\b[^\d\n]{0,20}$",
    re.IGNORECASE,
)
_NOT_PHONE_WORDS = re.compile(
    r"\b(?:order|ref|reference|invoice|tracking|transaction|account|acct|sort\s+code|customer"
    r"|member|id|sku|serial|case|ticket|no|number|#)\W{0,3}$",
    re.IGNORECASE,
)


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum of payment card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """Whether a compact IBAN has its country's length and passes the mod-97 check."""
    iban = iban.upper()
    if not (15 <= len(iban) <= 34 and iban.isalnum() and iban[:2].isalpha()):
        return False
    if IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban):
        return False
    return int("".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])) % 97 == 1


def _iban(match: re.Match[str], counts: Counter) -> str:
    """The IBAN's placeholder; a trailing group that is a following word is kept."""
    groups = match.group(0).split(" ")
    for n in range(len(groups), 0, -1):
        if iban_ok("".join(groups[:n])):
            counts["iban"] += 1
            return " ".join([PLACEHOLDERS["iban"], *groups[n:]])
    return match.group(0)


def _card(match: re.Match[str], counts: Counter) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if digits[0] in "23456" and luhn_ok(digits):
        counts["card"] += 1
        return PLACEHOLDERS["card"]
    return match.group(0)


def _looks_like_phone(number: str, before: str) -> bool:
    """Whether a digit group that is no date, time or amount is a phone number."""
    digits = sum(ch.isdigit() for ch in number)
    if not 7 <= digits <= 15:
        return False
    intl = number.startswith(("+", "00"))
    if not intl and digits > 12:
        return False  # national numbers are shorter: a long digit group is an account or code
    groups = [g for g in _GROUPS.split(number.replace("(0)", " ")) if g]
    asked = _PHONE_WORDS.search(before) is not None
    if not asked and _NOT_PHONE_WORDS.search(before):
        return False
    if len(groups) == 1:
        return asked or (intl and digits >= 8) or (number.startswith("0") and 10 <= digits <= 12)
    if any(len(g) == 1 for g in groups[1:]):
        return False  # 10.0.19045, 1.2.3.4567: versions and codes, not phone numbers
    if "." in number and len(groups) == 4 and all(len(g) <= 3 for g in groups):
        return False  # an IP address
    if not intl and len(groups[0]) <= 2 and all(len(g) == 3 for g in groups[1:]):
        return False  # 1 000 000, 12.500.000: a grouped number
    return True


def _numbers(match: re.Match[str], text: str, counts: Counter) -> str:
    number = match.group("phone")
    if number is None or not _looks_like_phone(
        number, text[max(0, match.start() - 30) : match.start()]
    ):
        return match.group(0)
    counts["phone"] += 1
    return PLACEHOLDERS["phone"]


def redact(text: str) -> tuple[str, dict[str, int]]:
    """The text with personal data replaced by placeholders, and how many of each kind."""
    counts: Counter = Counter()
    if "@" in text:
        text, n = _EMAIL.subn(PLACEHOLDERS["email"], text)
        counts["email"] += n
    if not any(ch.isdigit() for ch in text):
        return text, dict(counts)
    text = _IBAN.sub(lambda m: _iban(m, counts), text)
    text = _CARD.sub(lambda m: _card(m, counts), text)
    source = text
    text = _NUMBERS.sub(lambda m: _numbers(m, source, counts), text)
    return text, {kind: n for kind, n in counts.items() if n}


def redact_item(item: Item, context: Sequence[str] = ()) -> Item:
    """The item with its text, or every message's content, redacted (id and meta kept), and
    the values of its ``context`` fields (``labelloop.core.context``), which a prompt shows."""
    if context:
        item = _redact_context(item, context)
    if item.text is not None:
        text, counts = redact(item.text)
        return item.model_copy(update={"text": text}) if counts else item
    if not item.messages:
        return item
    messages = tuple(_redact_message(m) for m in item.messages)
    return item.model_copy(update={"messages": messages})


def _redact_context(item: Item, fields: Sequence[str]) -> Item:
    """The item with each context value that holds personal data replaced by its redacted
    text, under the field's own name (which :func:`labelloop.core.context.lookup` reads
    first, so a dotted path needs no nested copy)."""
    changed = {}
    for name, value in context_of(item, fields):
        text, counts = redact(context_text(value))
        if counts:
            changed[name] = text
    return item.model_copy(update={"meta": {**item.meta, **changed}}) if changed else item


def _redact_message(m: Message) -> Message:
    """A message with its content, and its tool calls' arguments, redacted."""
    update: dict = {"content": redact(m.content)[0]}
    if m.tool_calls:
        update["tool_calls"] = tuple(
            c.model_copy(update={"arguments": redact(c.arguments)[0]}) for c in m.tool_calls
        )
    return m.model_copy(update=update)


# ---------------------------------------------------------------- secrets

_SECRET_KEYS = frozenset(
    {
        "api_key", "apikey", "x_api_key", "api_token", "authorization", "proxy_authorization",
        "access_token", "refresh_token", "id_token", "auth_token", "x_auth_token",
        "session_token", "bearer_token", "client_secret", "secret", "secret_key", "password",
        "passwd", "cookie", "set_cookie", "private_key", "x_goog_api_key",
        "ocp_apim_subscription_key", "aws_secret_access_key", "aws_session_token",
    }
)  # fmt: skip
_SECRET_SUFFIXES = ("_api_key", "_secret", "_password", "_access_token", "_auth_token")
_SECRET_VALUE = re.compile(
    r"\bsk-[A-Za-z0-9_-]{10,}"
    r"|\b(?i:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\bAIza[0-9A-Za-z_-]{30,}|\bAKIA[0-9A-Z]{16}\b"
    r"|\b(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{20,}|\b(?:hf|gsk)_[A-Za-z0-9]{20,}"
    r"|\bxai-[A-Za-z0-9]{20,}|\bxox[abpr]-[A-Za-z0-9-]{10,}"
)
_ENV_SUFFIXES = ("_API_KEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD")


def is_secret_key(name: str) -> bool:
    """Whether a mapping key or header name holds a credential (api_key, Authorization, ...)."""
    norm = name.lower().replace("-", "_")
    return norm in _SECRET_KEYS or norm.endswith(_SECRET_SUFFIXES)


def env_secrets(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Credential values from the environment (``*_API_KEY``, ``*_TOKEN``, ...), longest first."""
    env = os.environ if environ is None else environ
    found = {v for k, v in env.items() if k.upper().endswith(_ENV_SUFFIXES) and len(v) >= 8}
    return tuple(sorted(found, key=lambda v: (-len(v), v)))


def redact_secrets(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """A deep copy of dicts, lists and strings with credentials replaced by ``[REDACTED]``:
    values under secret-looking keys, key-looking strings, and the given literal ``secrets``."""
    literals = tuple(sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True))
    return _scrub(obj, literals)


def _scrub(obj: Any, literals: tuple[str, ...]) -> Any:
    if isinstance(obj, str):
        for secret in literals:
            obj = obj.replace(secret, REDACTED)
        return _SECRET_VALUE.sub(_mask, obj)
    if isinstance(obj, bytes | bytearray):
        try:
            return _scrub(bytes(obj).decode("utf-8"), literals).encode("utf-8")
        except UnicodeDecodeError:
            return bytes(obj)
    if isinstance(obj, Mapping):
        return {
            k: _hide(v) if isinstance(k, str) and is_secret_key(k) else _scrub(v, literals)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple | set | frozenset):
        pair = isinstance(obj, list | tuple) and len(obj) == 2 and isinstance(obj[0], str)
        if pair and is_secret_key(obj[0]):  # a header as a (name, value) pair
            return type(obj)([obj[0], _hide(obj[1])])
        return type(obj)(_scrub(v, literals) for v in obj)
    return obj


def _hide(value: Any) -> Any:
    return value if value is None or value == "" else REDACTED


def _mask(match: re.Match[str]) -> str:
    scheme = match.group(0).split(None, 1)[0]
    return f"{scheme} {REDACTED}" if scheme.lower() in ("bearer", "basic") else REDACTED
