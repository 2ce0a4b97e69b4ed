"""Whose address a request comes from: a forwarded one is believed from a trusted proxy only."""

import pytest

from lkg.common.http.client_address import client_address, parse_networks
from lkg.common.settings import ServiceSettings

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])


def scope(peer: str | None, *forwarded: str) -> dict:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return {"type": "http", "client": (peer, 4711) if peer else None, "headers": headers}


@pytest.mark.parametrize(
    ("peer", "forwarded", "source"),
    [
        ("203.0.113.5", (), "203.0.113.5"),  # no proxy: the peer
        ("203.0.113.5", ("198.51.100.1",), "203.0.113.5"),  # an untrusted peer's header is not believed
        ("10.1.2.3", ("198.51.100.1",), "198.51.100.1"),  # the ingress forwards the client
        ("10.1.2.3", ("198.51.100.1, 10.9.9.9",), "198.51.100.1"),  # through two proxies of ours
        ("10.1.2.3", ("1.1.1.1, 198.51.100.1",), "198.51.100.1"),  # a forged entry on the left is not reached
        ("10.1.2.3", ("1.1.1.1", "198.51.100.1"), "198.51.100.1"),  # the header twice: read as one list
        ("10.1.2.3", ("not-an-address, 198.51.100.1",), "198.51.100.1"),
        ("10.1.2.3", ("198.51.100.1, garbage",), "10.1.2.3"),  # nothing beyond garbage is believed
        ("10.1.2.3", ("[2001:db8::1]:443",), "2001:db8::1"),
        ("fd00::1", ("198.51.100.1:5000",), "198.51.100.1"),
        ("10.1.2.3", (), "10.1.2.3"),  # a trusted peer with no header: itself
        (None, (), None),
    ],
)
def test_the_source_is_the_first_untrusted_hop_from_the_right(peer, forwarded, source) -> None:
    assert client_address(scope(peer, *forwarded), PROXIES) == source


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address(scope("10.1.2.3", "198.51.100.1"), ()) == "10.1.2.3"


def test_the_setting_takes_networks_and_refuses_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LKG_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.10")
    assert ServiceSettings().trusted_proxies == ("10.0.0.0/8", "192.168.1.10/32")
    assert ServiceSettings(trusted_proxies=[]).trusted_proxies == ()
    with pytest.raises(ValueError, match="not an IP network"):
        ServiceSettings(trusted_proxies=["ingress.local"])
