"""Signatures: HMAC-SHA256 of timestamp + "." + body, checked in constant time, with a
tolerance on the timestamp."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from labelloop.hooks.signing import fingerprint, sign, signature, verify

SECRET = "whsec-0123456789abcdef"
BODY = b'{"id": "evt_1", "type": "item.decided", "data": {"item_id": "t1"}}'
NOW = 1_800_000_000


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    header = sign(SECRET, BODY, timestamp=NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}" == f"t={NOW},v1={signature(SECRET, NOW, BODY)}"
    assert verify(SECRET, header, BODY, now=NOW)
    assert verify(SECRET, header, BODY.decode(), now=NOW + 299)  # text bodies too


@pytest.mark.parametrize(
    "why, secret, body, now",
    [
        ("tampered body", SECRET, BODY.replace(b"t1", b"t2"), NOW),
        ("one byte more", SECRET, BODY + b" ", NOW),
        ("wrong secret", SECRET + "x", BODY, NOW),
        ("empty secret", "", BODY, NOW),
        ("old timestamp", SECRET, BODY, NOW + 301),
        ("future timestamp", SECRET, BODY, NOW - 301),
    ],
)
def test_a_changed_body_another_secret_or_a_stale_timestamp_fails(why, secret, body, now):
    assert not verify(secret, sign(SECRET, BODY, timestamp=NOW), body, now=now), why


def test_the_tolerance_is_the_receivers_choice():
    header = sign(SECRET, BODY, timestamp=NOW)
    assert not verify(SECRET, header, BODY, now=NOW + 3600)
    assert verify(SECRET, header, BODY, tolerance_s=3601, now=NOW + 3600)


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", f"t={NOW}", "v1=abcd", f"t=soon,v1={'0' * 64}", f"t={NOW},v1"],
)
def test_malformed_headers_fail(header):
    assert not verify(SECRET, header, BODY, now=NOW)


def test_a_timestamp_moved_onto_another_signature_fails():
    # replaying an old signature with a fresh timestamp: the timestamp is signed too
    old = sign(SECRET, BODY, timestamp=NOW - 3600).split(",v1=")[1]
    assert not verify(SECRET, f"t={NOW},v1={old}", BODY, now=NOW)


def test_any_of_several_v1_signatures_may_match():
    # a receiver rotating secrets may be sent both signatures
    good = sign(SECRET, BODY, timestamp=NOW).split(",v1=")[1]
    assert verify(SECRET, f"t={NOW},v1={'0' * 64},v1={good}", BODY, now=NOW)


def test_the_fingerprint_is_short_stable_and_not_the_secret():
    assert fingerprint(SECRET) == fingerprint(SECRET) != fingerprint(SECRET + "x")
    assert len(fingerprint(SECRET)) == 8 and fingerprint(SECRET) not in SECRET
    assert fingerprint(SECRET) != hashlib.sha256(SECRET.encode()).hexdigest()[:8]
