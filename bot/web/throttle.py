"""Login throttling: too many wrong passwords lock the account for that address, and the address.

Counts live in the web process's memory (one console process serves a clinic); a restart forgets
them, which only ever helps the legitimate user. Two keys: account+IP stops guessing one account
without letting an attacker lock a nurse out from everywhere; IP alone stops spraying many accounts.
"""
from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Callable, Deque, Dict, Tuple

Key = Tuple[str, ...]


class LoginThrottle:
    def __init__(self, per_account: int = 5, per_address: int = 20, window: float = 900.0,
                 clock: Callable[[], float] = time.monotonic):
        self.limits = {"account": per_account, "address": per_address}
        self.window = window
        self.clock = clock
        self._failures: Dict[Key, Deque[float]] = defaultdict(deque)

    def _keys(self, email: str, address: str) -> Dict[str, Key]:
        return {"account": ("account", email.lower(), address), "address": ("address", address)}

    def _recent(self, key: Key) -> Deque[float]:
        failures = self._failures[key]
        horizon = self.clock() - self.window
        while failures and failures[0] < horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, email: str, address: str) -> int:
        """Seconds until another attempt is allowed; 0 when it is allowed now."""
        wait = 0.0
        for kind, key in self._keys(email, address).items():
            failures = self._recent(key)
            if len(failures) >= self.limits[kind]:
                wait = max(wait, failures[-self.limits[kind]] + self.window - self.clock())
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, email: str, address: str) -> None:
        now = self.clock()
        for key in self._keys(email, address).values():
            self._failures[key].append(now)

    def succeeded(self, email: str, address: str) -> None:
        self._failures.pop(self._keys(email, address)["account"], None)
