"""Session signing and login throttling on their own, with a controllable clock."""
from __future__ import annotations

from bot.web.security import SessionCodec, Signer, csrf_token, csrf_valid
from bot.web.throttle import LoginThrottle


def test_session_cookie_round_trips_and_rejects_tampering_and_other_keys():
    codec = SessionCodec(Signer("key-one"))
    session = codec.new("nurse@example.org", "$argon2id$hash")
    value = codec.encode(session)
    assert codec.decode(value) == session
    body, mac = value.split(".")
    assert codec.decode(body[:-2] + "xx." + mac) is None
    assert SessionCodec(Signer("key-two")).decode(value) is None
    assert SessionCodec(Signer("key-one"), lifetime=-1).decode(value) is None
    assert codec.decode("") is None and codec.decode("garbage") is None
    assert codec.decode(body + ".mäc€") is None  # non-ASCII is just wrong, never an exception


def test_csrf_token_is_bound_to_its_cookie_and_key():
    signer = Signer("key")
    token = csrf_token(signer, "cookie-a")
    assert csrf_valid(signer, "cookie-a", token)
    assert not csrf_valid(signer, "cookie-b", token)
    assert not csrf_valid(Signer("other"), "cookie-a", token)
    assert not csrf_valid(signer, None, token) and not csrf_valid(signer, "cookie-a", None)
    assert not csrf_valid(signer, "cookie-a", token[:-1] + "é")


def test_throttle_locks_an_account_per_address_then_forgets():
    now = [1000.0]
    throttle = LoginThrottle(per_account=3, per_address=5, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("a@x.org", "1.1.1.1") == 0
        throttle.failed("a@x.org", "1.1.1.1")
    assert 0 < throttle.retry_after("a@x.org", "1.1.1.1") <= 61
    assert throttle.retry_after("a@x.org", "2.2.2.2") == 0  # the nurse elsewhere is not locked out
    now[0] += 61
    assert throttle.retry_after("a@x.org", "1.1.1.1") == 0


def test_throttle_limits_spraying_many_accounts_from_one_address():
    throttle = LoginThrottle(per_account=3, per_address=5, window=60, clock=lambda: 0.0)
    for n in range(5):
        throttle.failed(f"user{n}@x.org", "1.1.1.1")
    assert throttle.retry_after("fresh@x.org", "1.1.1.1") > 0
    throttle.succeeded("user0@x.org", "1.1.1.1")  # success clears only that account's count
    assert throttle.retry_after("fresh@x.org", "1.1.1.1") > 0
