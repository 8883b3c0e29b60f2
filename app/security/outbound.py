"""Where Agora may send a request of its own: app webhooks and extension calls.

A partner chooses these URLs, so each one is a way into the operator's network unless it is
checked. The rules:

- In prod a URL is ``https`` and its host resolves only to public addresses: no private,
  loopback, link-local (cloud metadata lives at 169.254.169.254), shared, multicast, reserved
  or unspecified address.
- In dev and test, ``http`` or ``https`` to a loopback host is allowed as well, so a partner's
  local server and the test receiver work. Other private addresses stay refused.

A URL is checked twice: its shape when it is saved (``check_url``, which refuses a literal
private address at once), and its resolved addresses when a request is about to go out
(``resolve_target``). The request then connects to the very address that was checked, with
the original host name kept for ``Host`` and TLS (SNI and certificate checks), so a DNS answer
that changes between the check and the connection (rebinding) cannot reach inside.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "OutboundPolicy",
    "ResolvedTarget",
    "Resolver",
    "UrlRefused",
    "system_resolver",
]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Host and port to the addresses it resolves to (a port so tests can substitute a fake)."""

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_URL_LENGTH = 2000


class UrlRefused(Exception):
    """The URL may not be called; ``reason`` is shown to the partner or recorded on the attempt."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """What to connect to: the URL rewritten to the checked address, plus the original host
    for the ``Host`` header and for TLS."""

    url: str
    host: str
    sni_hostname: str | None


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


# IPv6 ranges that carry an IPv4 address in their last 32 bits (NAT64, IPv4-compatible,
# IPv4-translated): a gateway may forward them to that address, so it is the one judged.
_EMBEDDING_V4 = tuple(
    ipaddress.IPv6Network(net) for net in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")
)
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # local use: always inside


def _is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and any(address in net for net in _EMBEDDING_V4):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            return _is_public(embedded)
    return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """``allow_loopback`` is on in dev and test only."""

    allow_loopback: bool
    resolver: Resolver = system_resolver

    @classmethod
    def for_environment(cls, environment: str) -> OutboundPolicy:
        return cls(allow_loopback=environment != "prod")

    def _address_allowed(self, address: IpAddress) -> bool:
        return _is_public(address) or (self.allow_loopback and address.is_loopback)

    def check_url(self, url: str) -> None:
        """Refuse a URL whose shape is wrong; a host name is resolved later, at call time."""
        if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
            raise UrlRefused(f"A URL is 1 to {MAX_URL_LENGTH} characters.")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UrlRefused("The URL cannot be parsed.") from exc
        host = (parts.hostname or "").lower()
        if not host or parts.username is not None or parts.password is not None:
            raise UrlRefused("A URL names a host and carries no credentials.")
        if parts.fragment or any(ch.isspace() for ch in url):
            raise UrlRefused("A URL has no fragment and no white space.")
        if port == 0:
            raise UrlRefused("Port 0 cannot be called.")
        loopback_host = host in _LOOPBACK_NAMES or _literal_loopback(host)
        if parts.scheme != "https" and not (
            parts.scheme == "http" and self.allow_loopback and loopback_host
        ):
            raise UrlRefused(
                "Use https (http only to 127.0.0.1 outside prod)."
                if self.allow_loopback
                else "Use https."
            )
        literal = _literal(host)
        if literal is not None and not self._address_allowed(literal):
            raise UrlRefused(f"{host} is not a public address.")
        if host == "localhost" and not self.allow_loopback:
            raise UrlRefused("localhost is not a public address.")

    async def resolve_target(self, url: str) -> ResolvedTarget:
        """Check ``url`` and every address its host resolves to; the URL to connect with.

        Every address must pass, not just the first: a name that answers with one public and
        one private address would otherwise be a coin toss away from the inside.
        """
        self.check_url(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        literal = _literal(host)
        if literal is not None:
            return ResolvedTarget(url=url, host=parts.netloc, sni_hostname=None)
        try:
            addresses = await self.resolver(host, port)
        except OSError as exc:
            raise UrlRefused(f"{host} does not resolve.") from exc
        parsed = [_literal(a.split("%", 1)[0]) for a in addresses]
        checked = [a for a in parsed if a is not None]
        if not checked:
            raise UrlRefused(f"{host} does not resolve.")
        refused = [a for a in checked if not self._address_allowed(a)]
        if refused:
            raise UrlRefused(f"{host} resolves to {refused[0]}, which is not a public address.")
        chosen = checked[0]
        netloc = f"[{chosen}]" if chosen.version == 6 else str(chosen)
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        return ResolvedTarget(
            url=urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
            host=parts.netloc,
            sni_hostname=host if parts.scheme == "https" else None,
        )


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _literal_loopback(host: str) -> bool:
    address = _literal(host)
    return address is not None and address.is_loopback
