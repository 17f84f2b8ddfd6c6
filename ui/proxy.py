"""Who is on the other end of a request: the connection's peer, or the client a trusted
reverse proxy forwards.

``[review] trusted_proxies`` lists the proxies (addresses or networks) in front of the
console; none by default. On a connection from one of them, the client is the rightmost
address of ``X-Forwarded-For`` that is not itself a trusted proxy: each proxy appends the
address it was connected from, so everything to the left of that is whatever the client
chose to send and is never read. ``X-Forwarded-Proto`` (http or https) then gives the
scheme. On any other connection both headers are ignored and the client is the peer.

The server's own handling of these headers is off (``serve`` starts uvicorn with
``proxy_headers=False``), so the ASGI ``client`` this middleware receives is the peer, and
it keeps it under ``PEER`` before putting the client there: header sign-in (SSO) is
checked against the proxy that connected, not the address it forwards.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

#: the scope key holding the connection's peer address
PEER = "labelloop.peer"
log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address | None:
    """An IP address from a peer or forwarded hop (``1.2.3.4``, ``1.2.3.4:80``,
    ``[::1]:80``, ``::1``); IPv4-mapped IPv6 as IPv4; None for anything else."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped or ip


class AddressList:
    """Addresses and networks from a setting (``127.0.0.1``, ``10.0.0.0/8``, ``::1``)."""

    def __init__(self, entries: Iterable[str]):
        self.networks = tuple(ipaddress.ip_network(e, strict=False) for e in entries)

    def __contains__(self, host: str | None) -> bool:
        ip = parse_address(host) if host else None
        return ip is not None and any(ip in net for net in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)


def client_address(peer: str | None, forwarded_for: list[str], trusted: AddressList) -> str:
    """The client behind a connection from ``peer``: see the module docstring. A hop
    that is not an IP address ends the walk at the peer (only an address is believed)."""
    if not peer:
        return "unknown"
    own = parse_address(peer)
    shown = str(own) if own is not None else peer
    if peer not in trusted:
        return shown
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        ip = parse_address(hop)
        if ip is None:
            return shown
        if str(ip) not in trusted:
            return str(ip)
    first = parse_address(hops[0]) if hops else None  # a chain of trusted hosts only
    return str(first) if first is not None else shown


class ForwardedMiddleware:
    """Puts the client (see the module docstring) in the ASGI scope, the peer in ``PEER``."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str]):
        self.app = app
        self.trusted = AddressList(trusted)
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        peer = scope["client"][0] if scope.get("client") else None
        scope[PEER] = peer
        forwarded, proto = [], None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip().lower()
        if peer in self.trusted:
            client = client_address(peer, forwarded, self.trusted)
            scope["client"] = (client, scope["client"][1])
            if proto in ("http", "https"):
                scope["scheme"] = proto if scope["type"] == "http" else proto.replace("http", "ws")
        elif forwarded and not self._warned:
            self._warned = True
            log.warning(
                "requests from %s carry X-Forwarded-For, which is ignored: if that is your "
                "reverse proxy, list it in [review] trusted_proxies",
                peer,
            )
        await self.app(scope, receive, send)
