"""Where a webhook may point: http or https, no credentials in the URL, a public address.

A host that is, or resolves to, an address that is private, loopback, link-local,
multicast, reserved, unspecified or otherwise not globally reachable is refused (IPv4 and
IPv6; an IPv4 address carried inside an IPv6 one, mapped ``::ffff:a.b.c.d``, 6to4 or Teredo,
is judged as that IPv4 address too), unless it lies in a network of ``[webhooks]
allow_private``. A name is refused when any of its addresses is. The check runs when a
webhook is registered and again before every delivery, since DNS answers change; the
request then goes to the address that was checked (``Target.address``), never to a second
lookup, and redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from labelloop.core.errors import LabelloopError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SCHEMES = ("http", "https")
MAX_URL = 2048
#: what an address is, in the order it is told (0.0.0.0 is "private" too, but unspecified)
_KINDS = (
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_reserved", "reserved"),
    ("is_private", "private"),
    ("is_site_local", "site-local"),
)


class TargetRefused(LabelloopError):
    """A webhook URL that may not be used, and why."""


@dataclass(frozen=True)
class Target:
    """A checked URL and the address its request goes to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str

    @property
    def host_header(self) -> str:
        """The Host header: the URL's host (and its port, unless the scheme's own)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def check_url(url: str) -> tuple[str, str, int]:
    """The scheme, host and port of a webhook URL, or ``TargetRefused`` saying what to fix
    (nothing is looked up here)."""
    if not url or len(url) > MAX_URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise TargetRefused(
            f"Not a usable webhook URL: give an http(s) URL of at most {MAX_URL} characters, "
            "without spaces, e.g. https://hooks.example.com/labelloop"
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TargetRefused(
            f"Webhook URLs are http or https, not {scheme or 'without a scheme'!r}: "
            "write e.g. https://hooks.example.com/labelloop"
        )
    if parts.username is not None or parts.password is not None:
        raise TargetRefused(
            "A webhook URL must not hold credentials (user:password@): leave them out; "
            "receivers check the X-Labelloop-Signature header instead"
        )
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise TargetRefused(f"The port of {url!r} is not a number from 1 to 65535") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefused(f"{url!r} names no host: write e.g. https://hooks.example.com/x")
    return scheme, host, port


def check_target(url: str, allow_private: Sequence[str] = ()) -> Target:
    """The URL checked (syntax, then every address its host has) with the address to send
    to; ``TargetRefused`` naming the address and what it is, and how to allow it."""
    scheme, host, port = check_url(url)
    allowed = [ipaddress.ip_network(n, strict=False) for n in allow_private]
    addresses = _addresses(host, port)
    for address in addresses:
        why = refusal(address, allowed)
        if why is not None:
            named = host if host == str(address) else f"{host} ({address})"
            raise TargetRefused(
                f"Webhook host {named} is {why}: webhooks go to public addresses only; "
                f'to allow it, add its network to [webhooks] allow_private (e.g. "{address}/'
                f'{address.max_prefixlen}") in labelloop.toml'
            )
    return Target(url=url, scheme=scheme, host=host, port=port, address=str(addresses[0]))


def refusal(address: IPAddress, allowed: Sequence = ()) -> str | None:
    """What makes ``address`` no place to send to (None: public, or in ``allowed``)."""
    judged = [*embedded(address), address]  # what it carries says most about it
    if any(a in net for a in judged for net in allowed if a.version == net.version):
        return None
    for a in judged:
        why = _kind(a)
        if why is not None:
            return why if a == address else f"{why} (it carries {a})"
    return None


def embedded(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: mapped, 6to4, Teredo (server, client)."""
    if address.version == 4:
        return []
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    return [a for a in found if a is not None]


def lookup(host: str, port: int) -> list[str]:
    """The addresses a name resolves to (a seam: tests answer for DNS here)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = lookup(host, port)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(
            f"Cannot resolve webhook host {host!r} ({exc}): check the name, or the network"
        ) from None
    if not found:
        raise TargetRefused(f"Webhook host {host!r} has no address: check the name")
    return [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]


def _kind(address: IPAddress) -> str | None:
    for attr, name in _KINDS:
        if getattr(address, attr, False):
            return name
    return None if address.is_global else "not globally reachable"
