"""Forwarded addresses are believed only from trusted proxies (bot/client_address.py)."""
from __future__ import annotations

from ipaddress import ip_network

import pytest

from bot.client_address import client_address, is_loopback
from bot.settings import load_settings

LOOPBACK = (ip_network("127.0.0.1/32"),)
TWO_HOPS = (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"))


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say():
    assert client_address("127.0.0.1", "203.0.113.9", "198.51.100.1", ()) == "127.0.0.1"
    assert client_address("192.0.2.4", "203.0.113.9", None, LOOPBACK) == "192.0.2.4"


def test_behind_a_trusted_proxy_the_address_it_saw_is_the_client():
    assert client_address("127.0.0.1", "203.0.113.9", None, LOOPBACK) == "203.0.113.9"


def test_a_client_cannot_choose_its_address_by_prefixing_the_header():
    # nginx appends the address it saw; what the client sent stays on the left.
    assert client_address("127.0.0.1", "1.2.3.4, 203.0.113.9", None, LOOPBACK) == "203.0.113.9"


def test_chains_of_trusted_proxies_are_walked_from_the_right():
    assert client_address("127.0.0.1", "1.2.3.4, 203.0.113.9, 10.1.2.3", None, TWO_HOPS) == "203.0.113.9"
    assert client_address("127.0.0.1", "10.9.9.9, 10.1.2.3", None, TWO_HOPS) == "10.9.9.9"


def test_junk_in_the_header_never_becomes_the_address():
    assert client_address("127.0.0.1", "not-an-ip", None, LOOPBACK) == "127.0.0.1"
    assert client_address("127.0.0.1", "203.0.113.9, <script>", None, LOOPBACK) == "127.0.0.1"
    assert client_address("127.0.0.1", "", "also junk", LOOPBACK) == "127.0.0.1"
    assert client_address("", "203.0.113.9", None, LOOPBACK) == "unknown"


def test_x_real_ip_counts_only_without_x_forwarded_for_and_only_from_a_trusted_proxy():
    assert client_address("127.0.0.1", None, "198.51.100.1", LOOPBACK) == "198.51.100.1"
    assert client_address("192.0.2.4", None, "198.51.100.1", LOOPBACK) == "192.0.2.4"


def test_ipv6_and_ipv4_mapped_peers():
    assert client_address("::ffff:127.0.0.1", "203.0.113.9", None, LOOPBACK) == "203.0.113.9"
    assert client_address("::1", "2001:db8::1", None, (ip_network("::1/128"),)) == "2001:db8::1"
    assert client_address("::1", "203.0.113.9", None, LOOPBACK) == "::1"


def test_trusted_proxies_setting_takes_ips_and_cidrs_and_refuses_typos(tmp_path):
    base = {"FSGS_VAR_DIR": str(tmp_path)}
    assert load_settings(base).trusted_proxies == ()
    assert load_settings({**base, "TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8 ::1"}).trusted_proxies == (
        ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"), ip_network("::1/128"))
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        load_settings({**base, "TRUSTED_PROXIES": "127.0.0.l"})


def test_limit_settings_refuse_values_that_would_lock_everyone_out(tmp_path):
    base = {"FSGS_VAR_DIR": str(tmp_path)}
    for name in ("LOGIN_FAILURES_PER_ACCOUNT", "LOGIN_FAILURES_PER_ADDRESS",
                 "RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "RASA_MAX_REQUEST_BYTES"):
        with pytest.raises(ValueError, match=f"{name} must be at least 1"):
            load_settings({**base, name: "0"})
    assert load_settings({**base, "NEW_TICKETS_PER_MINUTE": "0"}).new_tickets_per_minute == 0


def test_loopback_addresses_are_recognised_and_junk_is_not():
    assert is_loopback("127.0.0.1") and is_loopback("127.8.0.2") and is_loopback("::1")
    assert not is_loopback("203.0.113.9") and not is_loopback("unknown") and not is_loopback("")
