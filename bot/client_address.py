"""Who the client is, for per-address limits: the TCP peer, unless that peer is a trusted proxy.

Behind nginx every request comes from 127.0.0.1, so per-address limits would lump all users
together; but `X-Forwarded-For` is just a header anyone can send. It is believed only when the
peer is in `TRUSTED_PROXIES` (default: nobody), and read from the right: each proxy appends the
address it saw, so the first address that is not itself a trusted proxy is the client, and
whatever a client wrote at the left of the header is ignored. `X-Real-IP` is used when a trusted
proxy sends only that.
"""
from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address
UNKNOWN = "unknown"


def _parse(value: str | None) -> Address | None:
    try:
        address = ip_address((value or "").strip().strip("[]"))
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.0.0.1 is 10.0.0.1
    return mapped or address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in proxies)


def client_address(peer: str | None, forwarded_for: str | None, real_ip: str | None,
                   proxies: Sequence[Network]) -> str:
    """The client's address as text ("unknown" when the peer is not an IP address)."""
    current = _parse(peer)
    if current is None:
        return UNKNOWN
    if not _trusted(current, proxies):
        return str(current)
    hops = [hop for hop in (forwarded_for or "").split(",") if hop.strip()]
    if not hops:
        real = _parse(real_ip)
        return str(real or current)
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            # Trusted proxies write addresses; junk came from further out. The last trusted hop is
            # all we know (stricter for limits, never a client-chosen address).
            return str(current)
        current = address
        if not _trusted(current, proxies):
            return str(current)
    return str(current)


def is_loopback(address: str) -> bool:
    """True for this machine's own addresses (127.0.0.0/8, ::1) as `client_address` returns them."""
    parsed = _parse(address)
    return parsed is not None and parsed.is_loopback


def request_client_address(request: Any, proxies: Sequence[Network]) -> str:
    """`client_address` of a Sanic request (`request.ip` is the socket's peer in Sanic 21.12)."""
    headers = request.headers
    forwarded = ",".join(headers.getall("x-forwarded-for", []))
    return client_address(request.ip, forwarded, headers.get("x-real-ip"), proxies)
