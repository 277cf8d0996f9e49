"""Where a webhook may point (SSRF guard): a subject sets its own webhook URL in the portal, and the platform POSTs
to it from inside the government network, so a URL naming (or resolving to) an internal address would let anyone
make the platform call its own services (the cloud metadata at 169.254.169.254, the database, the admin pages).

``check_url`` refuses, at set time (notifications.contacts.start) and again at each send (channels.webhook: DNS may
have changed since), a URL that is not plain http(s), carries userinfo (``user:pass@``), or whose host is, or
resolves to, any address that is not global unicast: loopback, private (RFC 1918, fc00::/7), link-local, multicast,
reserved, unspecified, shared (100.64/10), documentation ranges, IPv4-mapped / NAT64 forms of those. One refused
address among a name's addresses refuses the name. ``allow`` (setting ``webhook_allow_hosts``) lists host names,
addresses or networks (``127.0.0.1``, ``localhost``, ``10.8.0.0/16``) that are allowed all the same: for tests,
the demo's sinks and the bank/SMS simulator, never needed in production. Messages are zh-CN / English.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from kit.i18n import _l
from notifications.errors import RecipientInvalid

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


class UrlRefused(RecipientInvalid):
    """A webhook URL the platform will not call; ``temporary`` when only the name could not be resolved now."""

    temporary = False


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(i[4][0]) for i in infos})


# The DNS edge; tests replace it (monkeypatch) to make a name resolve to a chosen address.
resolve: Resolver = _system_resolve


def _unwrap(ip: IP) -> IP:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64: the IPv4 address is the last 32 bits
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def refused_ip(ip: IP) -> bool:
    """True for every address that is not a public (global unicast) one, in any of its IPv6 disguises."""
    for a in {ip, _unwrap(ip)}:
        if (
            a.is_loopback
            or a.is_private
            or a.is_link_local
            or a.is_multicast
            or a.is_reserved
            or a.is_unspecified
            or not a.is_global
        ):
            return True
    return False


def _allowed(host: str, ips: Iterable[IP], allow: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    ips = list(ips)
    for entry in (e.strip().lower() for e in allow):
        if not entry:
            continue
        if entry.rstrip(".") == host:
            return True
        try:
            net = ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            continue
        if ips and all(_unwrap(i) in net or i in net for i in ips):
            return True
    return False


def _parse(url: str) -> tuple[str, int]:
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise UrlRefused(_l("this webhook URL cannot be read")) from e
    if parts.scheme.lower() not in ("http", "https") or any(c.isspace() for c in text):
        raise UrlRefused(_l("a webhook URL starts with http:// or https://"))
    if "@" in parts.netloc:
        raise UrlRefused(_l("a webhook URL may not carry a user name or password (user:pass@)"))
    host = parts.hostname or ""
    if not host:
        raise UrlRefused(_l("a webhook URL needs a host name"))
    return host, port or (443 if parts.scheme.lower() == "https" else 80)


async def check_url(url: str, allow: Iterable[str] = ()) -> None:
    """Refuse (UrlRefused) a webhook URL the platform must not call (see the module's docstring)."""
    host, port = _parse(url)
    allow = tuple(allow)
    try:
        ips: list[IP] = [ipaddress.ip_address(host.strip("[]").split("%")[0])]
    except ValueError:
        if _allowed(host, [], allow):
            return
        try:
            ips = [ipaddress.ip_address(a.split("%")[0]) for a in await resolve(host, port)]
        except (OSError, UnicodeError, ValueError) as e:
            refusal = UrlRefused(_l("the webhook host {host} cannot be resolved"), host=host)
            refusal.temporary = True
            raise refusal from e
        if not ips:
            refusal = UrlRefused(_l("the webhook host {host} cannot be resolved"), host=host)
            refusal.temporary = True
            raise refusal
    if _allowed(host, ips, allow):
        return
    bad = [str(i) for i in ips if refused_ip(i)]
    if bad:
        raise UrlRefused(
            _l("a webhook may not point at an internal, loopback, private or reserved address ({address})"),
            address=", ".join(bad),
        )
