"""Console sessions: tokens that expire when idle or old, end at logout and on a new password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from labelloop.review.auth import (
    SessionPolicy,
    add_user,
    end_session,
    session_user,
    start_session,
    token_hash,
)

POLICY = SessionPolicy(idle=timedelta(minutes=30), max_age=timedelta(hours=8))
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_a_session_names_its_user_and_the_store_keeps_only_a_hash(project, reviewer):
    token = start_session(project.store, "rita", POLICY, now=T0)
    assert session_user(project.store, token, POLICY, now=T0).name == "rita"
    assert project.store.get_session(token) is None  # the raw token is not a key
    assert project.store.sessions_for("rita") == [token_hash(token)]
    assert session_user(project.store, "forged-token", POLICY, now=T0) is None
    assert session_user(project.store, None, POLICY, now=T0) is None


def test_sessions_expire_when_idle_and_at_their_maximum_age(project, reviewer):
    store = project.store
    token = start_session(store, "rita", POLICY, now=T0)
    assert session_user(store, token, POLICY, now=T0 + timedelta(minutes=29)) is not None
    # that request counted as activity: the idle clock restarted at 09:29
    assert session_user(store, token, POLICY, now=T0 + timedelta(minutes=58)) is not None
    assert session_user(store, token, POLICY, now=T0 + timedelta(minutes=88, seconds=1)) is None

    busy = start_session(store, "rita", POLICY, now=T0)
    for minutes in range(20, 8 * 60, 20):  # never idle, but no session outlives max_age
        assert session_user(store, busy, POLICY, now=T0 + timedelta(minutes=minutes))
    assert session_user(store, busy, POLICY, now=T0 + timedelta(hours=8)) is None


def test_logout_disabling_and_a_new_password_end_sessions(project, reviewer):
    store = project.store
    token = start_session(store, "rita", POLICY, now=T0)
    end_session(store, token)
    assert session_user(store, token, POLICY, now=T0) is None

    token = start_session(store, "rita", POLICY, now=T0)
    add_user(store, "rita", "reviewer", "a-brand-new-password")
    assert session_user(store, token, POLICY, now=T0) is None

    token = start_session(store, "rita", POLICY, now=T0)
    store.set_user_disabled("rita", True)  # the account alone, its session rows left as they are
    assert session_user(store, token, POLICY, now=T0) is None


def test_expired_sessions_can_be_purged(project, reviewer):
    store = project.store
    old = start_session(store, "rita", POLICY, now=T0 - timedelta(days=2))
    new = start_session(store, "rita", POLICY, now=T0)
    assert store.delete_sessions(expired_before=T0) == 1
    assert store.sessions_for("rita") == [token_hash(new)]
    assert token_hash(old) not in store.sessions_for("rita")
