"""Which client a request comes from, behind a reverse proxy or not: the sign-in throttle
and header sign-in (SSO) read it from ``[review] trusted_proxies`` alone."""

from __future__ import annotations

import httpx
import pytest

from labelloop.core.errors import ConfigError
from labelloop.ui.proxy import AddressList, client_address
from tests.support.console import PASSWORD, make_project, served
from tests.support.console import guideline_text as guideline

USERS = [("rita", "reviewer"), ("ada", "admin"), ("cy", "reviewer")]


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """These tests count password checks, many of them: make each one cheap."""
    from argon2 import PasswordHasher

    from labelloop.review import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    auth._decoy_hash.cache_clear()
    yield
    auth._decoy_hash.cache_clear()


def sign_in(client: httpx.Client, name: str, password: str, via: str | None = None) -> int:
    """The status of one sign-in; ``via``: the X-Forwarded-For the request arrives with."""
    return post_login(client, name, password, via).status_code


def post_login(client: httpx.Client, name: str, password: str, via: str | None = None, **headers):
    if via:
        headers["x-forwarded-for"] = via
    r = client.post("/login", data={"username": name, "password": password}, headers=headers)
    client.cookies.clear()
    return r


def test_the_client_is_the_rightmost_hop_no_trusted_proxy_added():
    trusted = AddressList(["127.0.0.1", "10.0.0.0/8"])
    # whatever a client writes at the left of the header is never read
    assert client_address("127.0.0.1", ["6.6.6.6, 203.0.113.5"], trusted) == "203.0.113.5"
    assert client_address("127.0.0.1", ["6.6.6.6", "203.0.113.5, 10.1.1.1"], trusted) == (
        "203.0.113.5"
    )
    assert client_address("127.0.0.1", ["[2001:db8::7]:443"], trusted) == "2001:db8::7"
    assert client_address("127.0.0.1", ["203.0.113.5:5000"], trusted) == "203.0.113.5"
    assert client_address("::ffff:127.0.0.1", ["203.0.113.5"], trusted) == "203.0.113.5"
    assert client_address("127.0.0.1", ["10.2.2.2, 10.1.1.1"], trusted) == "10.2.2.2"
    # an untrusted peer's header, a hop that is not an address, no header: the peer
    assert client_address("198.51.100.9", ["203.0.113.5"], trusted) == "198.51.100.9"
    assert client_address("127.0.0.1", ["203.0.113.5, evil"], trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", [], trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", ["203.0.113.5"], AddressList([])) == "127.0.0.1"


def test_a_setting_that_is_not_an_address_names_itself(tmp_path):
    from labelloop.project import load_project

    (tmp_path / "labelloop.toml").write_text('[review]\ntrusted_proxies = ["proxy.local"]\n')
    with pytest.raises(ConfigError, match="trusted_proxies.*'proxy.local' is not an IP"):
        load_project(tmp_path)


def test_without_trusted_proxies_forwarded_addresses_are_ignored(tmp_path):
    """The default: X-Forwarded-For is nobody's word. A new value on each attempt buys no
    extra guesses, a forwarded scheme is not believed, header sign-in is checked against
    the peer (not a named address), and when every client comes through one proxy that
    sends no header, failures over many names lock out only accounts that have not signed
    in from there yet."""
    project = make_project(
        tmp_path,
        guideline(("a", "b")),
        USERS,
        proxy_auth_header="X-Forwarded-User",
        proxy_auth_from=["10.1.2.3"],
    )
    try:
        with served(project) as url, httpx.Client(base_url=url, timeout=20) as client:
            codes = [
                sign_in(client, "rita", f"guess-{n:04d}", via=f"203.0.{n}.{n}") for n in range(40)
            ]
            assert codes.count(401) == 5 and codes.count(429) == 35  # 5 of 40 evaluated
            sso = {"x-forwarded-user": "ada", "x-forwarded-for": "10.1.2.3"}
            assert client.get("/session", headers=sso).status_code == 401
            # one shared address: ada signs in, then 20 failures over other names
            signed = post_login(client, "ada", PASSWORD, **{"x-forwarded-proto": "https"})
            assert (
                signed.status_code == 303 and "secure" not in signed.headers["set-cookie"].lower()
            )
            assert [sign_in(client, f"x{n}", "wrong-pass") for n in range(15)] == [401] * 15
            assert sign_in(client, "cy", PASSWORD) == 429  # never signed in from here
            assert sign_in(client, "ada", PASSWORD) == 303  # known here: not locked out
            assert sign_in(client, "rita", PASSWORD) == 429  # her own count stays
    finally:
        project.store.close()


def test_behind_a_trusted_proxy_each_client_is_counted_apart(tmp_path):
    """``trusted_proxies`` names the proxy: the client it forwards is counted, its scheme
    sets the cookie's Secure flag, header sign-in works through it, and guesses on one
    account from ever new addresses stop at ``login_failures_per_account_total``, except
    where the account has signed in before."""
    project = make_project(
        tmp_path,
        guideline(("a", "b")),
        USERS,
        trusted_proxies=["127.0.0.1"],
        proxy_auth_header="X-Forwarded-User",
        login_failures_per_address=6,
        login_failures_per_account_total=8,
    )
    home, mallory, other = "198.51.100.1", "203.0.113.66", "203.0.113.77"
    try:
        with served(project) as url, httpx.Client(base_url=url, timeout=20) as client:
            sso = {"x-forwarded-user": "cy", "x-forwarded-for": other}
            assert client.get("/session", headers=sso).json()["user"] == "cy"
            signed = post_login(client, "rita", PASSWORD, home, **{"x-forwarded-proto": "https"})
            assert signed.status_code == 303 and "secure" in signed.headers["set-cookie"].lower()
            # one client's failures over many names refuse that client, not the next one,
            # and it cannot pose as another by writing that one into the header
            assert [sign_in(client, f"x{n}", "wrong-pass", via=mallory) for n in range(6)] == [
                401
            ] * 6
            assert sign_in(client, "ada", PASSWORD, via=mallory) == 429
            assert sign_in(client, "ada", PASSWORD, via=f"{other}, {mallory}") == 429
            assert sign_in(client, "ada", PASSWORD, via=other) == 303
            # many addresses, one account
            codes = [
                sign_in(client, "rita", f"guess-{n:04d}", via=f"192.0.2.{n + 1}") for n in range(40)
            ]
            assert codes.count(401) == 8 and codes.count(429) == 32
            assert sign_in(client, "rita", PASSWORD, via="192.0.2.200") == 429
            assert sign_in(client, "rita", PASSWORD, via=home) == 303
    finally:
        project.store.close()
