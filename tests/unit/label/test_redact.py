"""Redaction of personal data from item text, and of secrets from what the call log writes."""

from __future__ import annotations

import json

import pytest

from labelloop.core.types import Item, Message
from labelloop.label.redact import (
    REDACTED,
    env_secrets,
    iban_ok,
    is_secret_key,
    luhn_ok,
    redact,
    redact_item,
    redact_secrets,
)
from tests.support.paths import ROOT

DEMO = ROOT / "agent" / "data" / "demo" / "support-intent.jsonl"

POSITIVES = [
    ("Email me at jane.doe+bank@example.co.uk please", "Email me at [EMAIL] please", "email"),
    ("Reach me: J_Smith@mail-server.io.", "Reach me: [EMAIL].", "email"),
    ("Call me on +44 20 7946 0958 tomorrow", "Call me on [PHONE] tomorrow", "phone"),
    ("My number is (555) 123-4567.", "My number is [PHONE].", "phone"),
    ("Toll free 1-800-555-0199", "Toll free [PHONE]", "phone"),
    ("or 555.123.4567 after 5", "or [PHONE] after 5", "phone"),
    ("French: 06 12 34 56 78", "French: [PHONE]", "phone"),
    ("Berlin 030/1234567", "Berlin [PHONE]", "phone"),
    ("Germany +49 30 12345678", "Germany [PHONE]", "phone"),
    ("text 07700900123 when done", "text [PHONE] when done", "phone"),
    ("+44 (0)20 7946 0958", "[PHONE]", "phone"),
    ("0044 20 7946 0958", "[PHONE]", "phone"),
    ("My phone is 5551234567", "My phone is [PHONE]", "phone"),
    ("It's 555-1234", "It's [PHONE]", "phone"),
    ("card 4111 1111 1111 1111 expires 12/25", "card [CARD] expires 12/25", "card"),
    ("card 4111-1111-1111-1111", "card [CARD]", "card"),
    ("number 4111111111111111.", "number [CARD].", "card"),
    ("amex 3782 822463 10005", "amex [CARD]", "card"),
    ("mastercard 5555 5555 5555 4444 ok", "mastercard [CARD] ok", "card"),
    ("Pay to DE89 3704 0044 0532 0130 00 today", "Pay to [IBAN] today", "iban"),
    ("IBAN GB82WEST12345698765432", "IBAN [IBAN]", "iban"),
    ("to BE68 5390 0754 7034 with thanks", "to [IBAN] with thanks", "iban"),
    ("iban: fr14 2004 1010 0505 0001 3m02 606", "iban: [IBAN]", "iban"),
]

NEGATIVES = [
    "On 2024-01-15 at 10:30 I paid 1,000.00 EUR",
    "Transferred €1.250,50 on 15/01/2024 and $1 000 000 on 01.02.2023",
    "It cost £12,345.67 or 12.500.000 in total, 25.00 twice",
    "Order #12345678, order number 98765432, ref 123-456-789",
    "App version 10.0.19045.2965, v2.3.1, version 14.2.1",
    "server 192.168.10.100 port 8080",
    "I have 3 cards and 2 accounts since 2019; PIN 1234",
    "sort code 12-34-56 account 12345678",
    "tracking 1Z999AA10123456784, invoice 2024-000123",
    "between 10:30-11:45 on 01.02.2023, 10:30:15 sharp",
    "transactions 2023-01-01 - 2023-12-31",
    "random 4111 1111 1111 1112 and 1234 5678 9012 3456 and 4111111111111112",
    "not an iban GB82 WEST 1234 5698 7654 33",
    "ZIP 90210-1234, 12% of 1500 EUR",
    "try 555 times, Ron 12 days",
    "no contact details here at all",
]


@pytest.mark.parametrize(("text", "expected", "kind"), POSITIVES)
def test_personal_data_is_replaced(text: str, expected: str, kind: str) -> None:
    assert redact(text) == (expected, {kind: 1})


@pytest.mark.parametrize("text", NEGATIVES)
def test_dates_amounts_and_codes_are_kept(text: str) -> None:
    assert redact(text) == (text, {})


def test_counts_every_kind() -> None:
    text = (
        "I'm a@b.com or c.d@e.org, call +1 415 555 2671 or 020 7946 0958, "
        "card 4111 1111 1111 1111, IBAN DE89370400440532013000, on 2024-03-01 for $40.00."
    )
    out, counts = redact(text)
    assert counts == {"email": 2, "phone": 2, "card": 1, "iban": 1}
    assert "2024-03-01" in out and "$40.00" in out
    assert out.count("[PHONE]") == 2


def test_no_demo_message_changes() -> None:
    texts = [json.loads(line)["text"] for line in DEMO.read_text(encoding="utf-8").splitlines()]
    assert [t for t in texts if redact(t)[1]] == []


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert luhn_ok("378282246310005")
    assert iban_ok("GB82WEST12345698765432") and iban_ok("NO9386011117947")
    assert not iban_ok("GB82WEST12345698765433")
    assert not iban_ok("GB82WEST1234569876543")  # GB IBANs have 22 characters


def test_redact_item_text_and_messages() -> None:
    item = Item(id="a", text="mail me: x@y.io", meta={"source": "web"})
    out = redact_item(item)
    assert out.text == "mail me: [EMAIL]" and out.id == "a" and out.meta == {"source": "web"}
    clean = Item(id="b", text="where is my card?")
    assert redact_item(clean) is clean
    convo = Item(
        id="c",
        messages=(
            Message(role="user", content="my number is 07700 900123"),
            Message(role="assistant", content="Thanks, and your e-mail?"),
            Message(role="user", content="bo@example.com"),
        ),
        target_turn=2,
    )
    out = redact_item(convo)
    assert [m.content for m in out.messages or ()] == [
        "my number is [PHONE]",
        "Thanks, and your e-mail?",
        "[EMAIL]",
    ]
    assert out.target_turn == 2 and [m.role for m in out.messages or ()] == [
        "user",
        "assistant",
        "user",
    ]


# ---------------------------------------------------------------- secrets


def test_secret_keys_and_values_are_redacted_in_a_deep_copy() -> None:
    key = "sk-proj-UNIQUEfake0123456789abcdef"
    request = {
        "headers": {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        "api_key": key,
        "extra": [{"x-api-key": "abc123secret"}, ("Proxy-Authorization", "Basic dXNlcjpwdw==")],
        "body": {
            "messages": [{"role": "user", "content": f"my key is {key}, ok?"}],
            "max_tokens": 20,
            "usage": {"prompt_tokens": 10, "completion_tokens": 3},
            "logprobs": {"content": [{"token": "refund", "logprob": -0.1}]},
        },
        "error": f"Incorrect API key provided: {key}. Authorization: bearer abcdefghijklmnop",
        "cache_key": "3f2a9c0011",
        "api_base": "http://localhost:8000/v1",
    }
    out = redact_secrets(request)
    assert key not in json.dumps(out)
    assert out["headers"] == {"Authorization": REDACTED, "Content-Type": "application/json"}
    assert out["api_key"] == REDACTED
    assert out["extra"] == [{"x-api-key": REDACTED}, ("Proxy-Authorization", REDACTED)]
    assert out["body"]["messages"][0]["content"] == f"my key is {REDACTED}, ok?"
    assert out["body"]["max_tokens"] == 20 and out["body"]["usage"]["prompt_tokens"] == 10
    assert out["body"]["logprobs"]["content"][0]["token"] == "refund"
    assert out["error"] == (
        f"Incorrect API key provided: {REDACTED}. Authorization: bearer {REDACTED}"
    )
    assert out["cache_key"] == "3f2a9c0011" and out["api_base"] == request["api_base"]
    # a copy: the original is untouched
    assert request["api_key"] == key and out["body"] is not request["body"]


def test_literal_secrets_and_environment() -> None:
    env = {
        "OPENAI_API_KEY": "not-shaped-like-a-key-42",
        "ANTHROPIC_API_KEY": "short",
        "HOME": "/root",
        "HF_TOKEN": "hf_tokenvalue_xyz",
    }
    secrets = env_secrets(env)
    assert secrets == ("not-shaped-like-a-key-42", "hf_tokenvalue_xyz")
    out = redact_secrets(
        ["401: bad key not-shaped-like-a-key-42", b"x not-shaped-like-a-key-42"], secrets
    )
    assert out == [f"401: bad key {REDACTED}", f"x {REDACTED}".encode()]


def test_secret_key_names() -> None:
    for name in ("api_key", "API-Key", "x-api-key", "Authorization", "openai_api_key", "password"):
        assert is_secret_key(name), name
    for name in ("max_tokens", "token", "cache_key", "prompt_tokens", "key", "model"):
        assert not is_secret_key(name), name


def test_non_containers_pass_through() -> None:
    assert redact_secrets(None) is None
    assert redact_secrets(3.5) == 3.5
    assert redact_secrets({"api_key": None, "n": (1, 2)}) == {"api_key": None, "n": (1, 2)}
