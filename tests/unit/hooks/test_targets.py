"""Webhook targets: http(s) only, no credentials, and no address inside the network
(IPv4, IPv6, IPv4 carried in IPv6) unless the project allows its network."""

from __future__ import annotations

import ipaddress

import pytest

from labelloop.hooks import targets
from labelloop.hooks.targets import TargetRefused, check_target, check_url, refusal


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("100.64.0.1", "not globally reachable"),  # carrier-grade NAT
        ("192.0.2.10", "private"),  # documentation
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("fec0::1", "site-local"),
        ("::ffff:127.0.0.1", "loopback (it carries 127.0.0.1)"),
        ("::ffff:10.0.0.1", "private (it carries 10.0.0.1)"),
        ("::ffff:169.254.169.254", "link-local (it carries 169.254.169.254)"),
        ("2002:7f00:1::", "loopback (it carries 127.0.0.1)"),  # 6to4
        ("2002:a00:1::", "private (it carries 10.0.0.1)"),
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
        ("64:ff9b::a00:1", "reserved"),  # NAT64
    ],
)
def test_addresses_inside_the_network_are_refused(address, kind):
    assert refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450::1"]
)
def test_public_addresses_pass(address):
    assert refusal(ipaddress.ip_address(address)) is None


def test_the_allowlist_lets_its_networks_through_in_every_form():
    allowed = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("fd00::/8")]
    for address in ("127.0.0.1", "::ffff:127.0.0.1", "fd00::5"):
        assert refusal(ipaddress.ip_address(address), allowed) is None, address
    for address in ("127.0.0.2", "10.0.0.1", "::1", "fc00::1"):
        assert refusal(ipaddress.ip_address(address), allowed) is not None, address


@pytest.mark.parametrize(
    "url, said",
    [
        ("ftp://hooks.example.com/x", "http or https, not 'ftp'"),
        ("file:///etc/passwd", "http or https, not 'file'"),
        ("hooks.example.com/x", "without a scheme"),
        ("https://user:pw@hooks.example.com/x", "must not hold credentials"),
        ("https://token@hooks.example.com/x", "must not hold credentials"),
        ("https:///x", "names no host"),
        ("https://hooks.example.com:99999/x", "port"),
        ("https://hooks.example.com/a b", "without spaces"),
        ("", "Not a usable webhook URL"),
        ("https://example.com/" + "x" * 3000, "at most 2048"),
    ],
)
def test_malformed_urls_are_refused_with_the_fix(url, said):
    with pytest.raises(TargetRefused, match=said):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://[::ffff:7f00:1]/hook",
        "https://10.0.0.7/hook",
        "http://0.0.0.0/",
        "http://[fe80::1%25eth0]/",
    ],
)
def test_literal_private_hosts_are_refused_with_how_to_allow_them(url):
    with pytest.raises(TargetRefused, match=r"public addresses only.*allow_private"):
        check_target(url)


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    asked: list[str] = []

    def lookup(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in answers:
            raise OSError("Name or service not known")
        return answers[host]

    monkeypatch.setattr(targets, "lookup", lookup)
    return asked


def test_names_are_judged_by_every_address_they_resolve_to(monkeypatch):
    asked = fake_dns(
        monkeypatch,
        {
            "hooks.example.com": ["93.184.216.34", "2606:2800:220:1::"],
            "rebind.example.com": ["93.184.216.34", "127.0.0.1"],
            "metadata.example.com": ["169.254.169.254"],
            "mapped.example.com": ["::ffff:192.168.0.1"],
            "localhost": ["127.0.0.1", "::1"],
        },
    )
    target = check_target("https://hooks.example.com/x?a=1")
    assert (target.host, target.port, target.address) == ("hooks.example.com", 443, "93.184.216.34")
    assert target.host_header == "hooks.example.com"
    for host, said in [
        ("rebind.example.com", r"rebind\.example\.com \(127\.0\.0\.1\) is loopback"),
        ("metadata.example.com", "is link-local"),
        ("mapped.example.com", r"private \(it carries 192\.168\.0\.1\)"),
        ("localhost", "is loopback"),
    ]:
        with pytest.raises(TargetRefused, match=said):
            check_target(f"http://{host}:8000/hook")
    with pytest.raises(TargetRefused, match="Cannot resolve webhook host 'nowhere.invalid'"):
        check_target("https://nowhere.invalid/x")
    assert asked.count("hooks.example.com") == 1


def test_allowed_networks_open_names_and_literals(monkeypatch):
    fake_dns(monkeypatch, {"receiver.internal": ["10.1.2.3"]})
    allow = ["10.1.2.0/24", "127.0.0.1/32"]
    assert check_target("http://receiver.internal:9000/x", allow).address == "10.1.2.3"
    assert check_target("http://127.0.0.1:9000/x", allow).host_header == "127.0.0.1:9000"
    with pytest.raises(TargetRefused):
        check_target("http://10.1.3.1/x", allow)


def test_the_host_header_keeps_a_port_that_is_not_the_schemes():
    t = check_target("http://[2606:4700:4700::1111]:8443/x")
    assert t.address == "2606:4700:4700::1111" and t.host_header == "[2606:4700:4700::1111]:8443"
    assert check_target("https://1.1.1.1:443/").host_header == "1.1.1.1"
