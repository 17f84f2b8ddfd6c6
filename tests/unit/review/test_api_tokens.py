"""API tokens: shown once, kept hashed, scoped to the account as it is now, revocable,
their last use noted."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from labelloop.core.errors import LabelloopError
from labelloop.review.auth import add_user, delete_user, disable_user
from labelloop.review.tokens import create_token, revoke_tokens, token_user
from labelloop.ui.cli import app


def test_a_token_works_for_its_account_until_revoked(project):
    store = project.store
    add_user(store, "ann", "reviewer", "pw-ann-12345")
    add_user(store, "bob", "admin", "pw-bob-12345")
    first, second = create_token(store, "ann"), create_token(store, "ann")
    other = create_token(store, "bob")
    assert first != second and first.startswith("ll_") and len(first) > 40
    assert token_user(store, first).name == "ann" and token_user(store, other).role == "admin"
    # the store holds hashes, not tokens
    listed = store.list_tokens()
    assert {t.prefix for t in listed} == {first[:9], second[:9], other[:9]}
    with store.engine.connect() as c:
        kept = {r[0] for r in c.exec_driver_sql("SELECT hash FROM api_tokens")}
    assert hashlib.sha256(first.encode()).hexdigest() in kept and first not in kept
    # wrong, malformed, missing tokens: no one
    for bad in (None, "", "ll_nope", first[:-1], "Bearer " + first, "x" * 200):
        assert token_user(store, bad) is None
    # the role is the account's now
    add_user(store, "ann", "admin", "pw-ann-12345")
    assert token_user(store, first).role == "admin"
    # revoking one leaves the other
    one = next(t.id for t in store.list_tokens("ann") if t.prefix == first[:9])
    assert revoke_tokens(store, "ann", one) == 1
    assert token_user(store, first) is None and token_user(store, second).name == "ann"
    assert revoke_tokens(store, "ann") == 1 and token_user(store, second) is None


def test_a_disabled_or_deleted_account_has_no_token(project):
    store = project.store
    add_user(store, "cy", "reviewer", "pw-cy-123456")
    token = create_token(store, "cy")
    disable_user(store, "cy")
    assert token_user(store, token) is None
    with pytest.raises(LabelloopError, match="disabled"):
        create_token(store, "cy")
    disable_user(store, "cy", disabled=False)
    assert token_user(store, token).name == "cy"
    delete_user(store, "cy")
    add_user(store, "cy", "admin", "pw-cy-123456")  # a new account of that name
    assert token_user(store, token) is None
    with pytest.raises(LabelloopError, match="No console account 'nobody'"):
        create_token(store, "nobody")


def test_last_use_is_noted_at_most_once_a_minute(project):
    store = project.store
    add_user(store, "dee", "reviewer", "pw-dee-12345")
    token = create_token(store, "dee")
    assert store.list_tokens("dee")[0].last_used_at is None
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    token_user(store, token, now=t0)
    token_user(store, token, now=t0 + timedelta(seconds=30))
    assert store.list_tokens("dee")[0].last_used_at == t0
    token_user(store, token, now=t0 + timedelta(seconds=61))
    assert store.list_tokens("dee")[0].last_used_at == t0 + timedelta(seconds=61)


def test_the_commands_show_a_token_once_and_never_list_it(project):
    add_user(project.store, "eve", "reviewer", "pw-eve-12345")
    runner = CliRunner()
    made = runner.invoke(app, ["tokens", "create", "eve", "-p", str(project.root)])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token_user(project.store, token).name == "eve"
    listed = runner.invoke(app, ["tokens", "list", "-p", str(project.root)]).output
    assert "eve" in listed and token[:9] in listed and token not in listed
    gone = runner.invoke(app, ["tokens", "revoke", "eve", "-p", str(project.root)])
    assert "Revoked 1 token of eve" in gone.output
    assert token_user(project.store, token) is None
