"""Session signing and login throttling on their own, with a controllable clock."""
from __future__ import annotations

import asyncio

from bot.rate_limits import MemoryWindows
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


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock=None, per_account=3, per_address=5) -> LoginThrottle:
    return LoginThrottle(MemoryWindows(60, clock=clock or Clock()), per_account, per_address)


def attempts(throttle, email, address, count):
    async def scenario():
        return await asyncio.gather(*(throttle.reserve(email, address) for _ in range(count)))
    return asyncio.run(scenario())


def test_parallel_attempts_are_reserved_before_any_check_so_only_the_limit_get_through():
    results = attempts(throttle(), "a@x.org", "1.1.1.1", 300)
    assert sum(r.allowed for r in results) == 3
    refused = [r for r in results if not r.allowed]
    assert all(0 < r.retry_after <= 60 for r in refused)


def test_the_account_limit_holds_from_any_address_and_then_forgets():
    clock = Clock()
    limiter = throttle(clock)
    for n in range(3):
        assert attempts(limiter, "a@x.org", f"10.0.0.{n}", 1)[0].allowed
    assert not attempts(limiter, "A@x.org", "10.0.0.9", 1)[0].allowed  # a new address changes nothing
    assert attempts(limiter, "b@x.org", "10.0.0.9", 1)[0].allowed     # other accounts unaffected
    clock.now += 61
    assert attempts(limiter, "a@x.org", "10.0.0.9", 1)[0].allowed


def test_spraying_many_accounts_from_one_address_is_limited():
    limiter = throttle()
    for n in range(5):
        assert attempts(limiter, f"user{n}@x.org", "1.1.1.1", 1)[0].allowed
    assert not attempts(limiter, "fresh@x.org", "1.1.1.1", 1)[0].allowed
    assert attempts(limiter, "fresh@x.org", "2.2.2.2", 1)[0].allowed


def test_a_refused_address_does_not_use_up_the_accounts_attempts():
    """Else one locked-out attacker could lock every account from everywhere."""
    limiter = throttle(per_account=3, per_address=1)
    attempts(limiter, "x@x.org", "6.6.6.6", 1)
    for _ in range(10):
        assert not attempts(limiter, "nurse@x.org", "6.6.6.6", 1)[0].allowed
    # The account still has all its 3 attempts (from addresses that have theirs).
    assert [attempts(limiter, "nurse@x.org", f"7.7.7.{n}", 1)[0].allowed for n in range(4)] == \
        [True, True, True, False]


def test_a_right_password_clears_the_account_and_gives_the_address_its_attempt_back():
    limiter = throttle(per_account=3, per_address=3)

    async def scenario():
        await limiter.reserve("a@x.org", "1.1.1.1")
        await limiter.reserve("a@x.org", "1.1.1.1")
        ok = await limiter.reserve("a@x.org", "1.1.1.1")
        await limiter.succeeded(ok)
        # Address: two failures left, one slot free; account: counting from zero again.
        return [(await limiter.reserve("a@x.org", "1.1.1.1")).allowed for _ in range(2)]

    assert asyncio.run(scenario()) == [True, False]


def test_staff_signing_in_behind_one_address_never_use_up_its_allowance():
    limiter = throttle(per_address=2)

    async def scenario():
        for n in range(10):
            reservation = await limiter.reserve(f"staff{n}@x.org", "1.1.1.1")
            assert reservation.allowed
            await limiter.succeeded(reservation)

    asyncio.run(scenario())


def test_cancel_gives_both_attempts_back():
    limiter = throttle(per_account=1, per_address=1)

    async def scenario():
        first = await limiter.reserve("a@x.org", "1.1.1.1")
        await limiter.cancel(first)
        return (await limiter.reserve("a@x.org", "1.1.1.1")).allowed

    assert asyncio.run(scenario())
