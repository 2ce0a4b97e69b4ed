"""The address a request came from, believing a forwarded one only from a trusted proxy (issue #11 item 5).

Behind an ingress or a government network's NAT, the peer of every request is the proxy: throttling
login guesses by that address would throttle a whole office as one. ``X-Forwarded-For`` names the client,
but anyone can send that header, so it is believed only as far as the proxies are trusted: the setting
``LKG_TRUSTED_PROXIES`` lists their networks (empty by default: the peer is the source). The header is
read from the right, the hop nearest us, skipping every trusted proxy; the first address that is not
one is the client (a client that forges the header only adds entries further left, which are never
reached). ``Forwarded`` (RFC 7239) is not read: the ingress in ``deploy/`` sets ``X-Forwarded-For``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.0/8``, ``192.168.1.10`` (one host), ``fd00::/8``; a ValueError names a bad one."""
    out: list[Network] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"not an IP network: {value!r}") from exc
    return tuple(out)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def client_address(scope: Any, trusted: Sequence[Network]) -> str | None:
    """The client's address for the ASGI ``scope`` (a Request works too: its ``.scope``)."""
    scope = getattr(scope, "scope", scope)
    client = scope.get("client")
    peer = client[0] if client else None
    if peer is None or not trusted:
        return peer
    peer_address = _address(peer)
    if peer_address is None or not _trusted(peer_address, trusted):
        return peer
    forwarded = [
        value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"
    ]
    hops = [hop for header in forwarded for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return peer  # a hop that is not an address: nothing beyond it can be believed
        if not _trusted(address, trusted):
            return str(address)
    return peer if not hops else str(_address(hops[0]) or peer)
