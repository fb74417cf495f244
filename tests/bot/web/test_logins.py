"""Logins and logouts that hold under parallel requests and restarts, against real console
processes (`python -m bot.web`), their SQLite queue and, for shared counts, the real Redis.

The evidence for how many passwords were checked is the console's own log: every wrong password
that reached the argon2 check logs one "Sign-in refused" line; a throttled attempt returns 429
before the account is even read.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import requests
from argon2 import PasswordHasher

from bot import accounts
from bot.handoff.store import HandoffStore
from tests.bot.web.conftest import ADMIN, CSRF_INPUT, DOCTOR, NURSE, PASSWORD, Browser, FakeRasa, web_process

REFUSED_LINE = "Sign-in refused"


@pytest.fixture
def var_dir(tmp_path) -> Path:
    store = HandoffStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")
    store.create_schema()
    for email, role in ((ADMIN, "admin"), (NURSE, "staff"), (DOCTOR, "staff")):
        store.add_staff(email, accounts.hash_password(PASSWORD), role)
    store.dispose()
    return tmp_path


@contextmanager
def console(var_dir: Path, **variables: str) -> Iterator[str]:
    with FakeRasa() as rasa, web_process(var_dir, RASA_URL=rasa.url, **variables) as url:
        yield url


def store_of(var_dir: Path) -> HandoffStore:
    return HandoffStore.from_url(f"sqlite:///{var_dir / 'handoff.db'}")


def refused_lines(var_dir: Path) -> int:
    return (var_dir / "web.log").read_text(errors="replace").count(REFUSED_LINE)


def login_from(url: str, email: str, password: str, address: str) -> requests.Response:
    browser = Browser(url)
    browser.http.headers["X-Forwarded-For"] = address
    browser.get("/login")
    return browser.post("/login", {"email": email, "password": password, "next": "/console"})


def parallel_wrong_logins(url: str, email: str, address: str, count: int):
    """`count` wrong passwords at once, all sharing one CSRF cookie and token (as a script would)."""
    page = requests.get(f"{url}/login", timeout=30)
    token = CSRF_INPUT.search(page.text).group(1)
    cookies = page.cookies.get_dict()

    def attempt(n: int) -> int:
        return requests.post(f"{url}/login", data={"email": email, "password": f"guess {n}",
                                                   "csrf_token": token, "next": "/console"},
                             cookies=cookies, headers={"X-Forwarded-For": address},
                             allow_redirects=False, timeout=120).status_code

    with ThreadPoolExecutor(48) as pool:
        return list(pool.map(attempt, range(count)))


def test_300_parallel_wrong_logins_check_at_most_the_limit_and_others_still_sign_in(var_dir):
    with console(var_dir, TRUSTED_PROXIES="127.0.0.1") as url:
        codes = parallel_wrong_logins(url, NURSE, "203.0.113.5", 300)
        assert codes.count(401) + codes.count(429) == 300
        assert codes.count(401) == 5                          # LOGIN_FAILURES_PER_ACCOUNT
        assert refused_lines(var_dir) == 5                    # five argon2 checks, no more
        # Another account from another address: unaffected (behind nginx: 127.0.0.1 for both).
        assert login_from(url, DOCTOR, PASSWORD, "198.51.100.7").status_code == 303
        # The attacked account is locked from everywhere, even with the right password...
        locked = login_from(url, NURSE, PASSWORD, "198.51.100.7")
        assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 900
        assert refused_lines(var_dir) == 5


def test_the_address_limit_counts_the_real_client_behind_a_trusted_proxy(var_dir):
    with console(var_dir, TRUSTED_PROXIES="127.0.0.1", LOGIN_FAILURES_PER_ADDRESS="3") as url:
        codes = [login_from(url, f"nobody{n}@example.org", "wrong password!", "203.0.113.5").status_code
                 for n in range(4)]
        assert codes == [401, 401, 401, 429]                   # spraying accounts from one client
        assert login_from(url, NURSE, PASSWORD, "198.51.100.7").status_code == 303


def test_forwarded_addresses_are_ignored_from_an_untrusted_peer(var_dir):
    """Without TRUSTED_PROXIES a client cannot dodge the address limit by inventing addresses."""
    with console(var_dir, LOGIN_FAILURES_PER_ADDRESS="3") as url:
        codes = [login_from(url, f"nobody{n}@example.org", "wrong password!", f"203.0.113.{n}").status_code
                 for n in range(4)]
        assert codes == [401, 401, 401, 429]


def test_signing_in_does_not_use_up_the_address_allowance(var_dir):
    """A clinic's staff share one public address: successful logins must not lock it."""
    with console(var_dir, LOGIN_FAILURES_PER_ADDRESS="2") as url:
        for _ in range(4):
            for email in (NURSE, DOCTOR):
                assert Browser(url).login(email).status_code == 303


def test_a_logged_out_cookie_stays_refused_after_a_console_restart(var_dir):
    with console(var_dir) as url:
        leaving, staying = Browser(url), Browser(url)
        assert leaving.login(NURSE).status_code == 303 and staying.login(DOCTOR).status_code == 303
        copied = leaving.http.cookies.get("fsgs_session")
        leaving.get("/console")
        assert leaving.post("/logout").status_code == 303
    with console(var_dir) as url:
        replay = Browser(url)
        replay.http.cookies.set("fsgs_session", copied)
        assert replay.get("/console").status_code == 303       # back to the login form
        kept = Browser(url)
        kept.http.cookies.set("fsgs_session", staying.http.cookies.get("fsgs_session"))
        assert kept.get("/console").status_code == 200           # a restart alone ends nothing


def test_a_hash_made_with_old_argon2_parameters_is_upgraded_at_login(var_dir):
    store = store_of(var_dir)
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    store.add_staff("old.hash@example.org", old, "staff")
    assert accounts.needs_rehash(old)
    with console(var_dir) as url:
        assert Browser(url).login("old.hash@example.org").status_code == 303
        upgraded = store.get_staff("old.hash@example.org").password_hash
        assert upgraded != old and not accounts.needs_rehash(upgraded)
        session = Browser(url)
        assert session.login("old.hash@example.org").status_code == 303
        assert session.get("/console").status_code == 200        # the new session is valid
        assert store.get_staff("old.hash@example.org").password_hash == upgraded  # once only
    store.dispose()


@pytest.mark.redis
def test_two_console_processes_share_the_counts_through_redis(tmp_path_factory, var_dir):
    prefix = f"test{uuid.uuid4().hex[:12]}"
    shared = {"REDIS_URL": "redis://127.0.0.1:6379/1", "REDIS_KEY_PREFIX": prefix,
              "LOGIN_FAILURES_PER_ACCOUNT": "3"}
    other_dir = tmp_path_factory.mktemp("second-console")
    (other_dir / "handoff.db").write_bytes((var_dir / "handoff.db").read_bytes())
    try:
        with console(var_dir, **shared) as first, console(other_dir, **shared) as second:
            codes = [Browser(url).login(NURSE, "wrong password!").status_code
                     for url in (first, second, first, second)]
            assert codes == [401, 401, 401, 429]    # each alone would have allowed 3
    finally:
        client = redis.Redis.from_url("redis://127.0.0.1:6379/1")
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
