"""Login throttling that holds under parallel requests: reserve the attempt, verify, then release.

An attempt is recorded before the password is checked (`reserve`), atomically, so 300 parallel
wrong passwords get at most the configured number of hash checks; the rest get 429. Two limits,
each in a sliding window (`LOGIN_WINDOW_SECONDS`):
- per account, from any address (`LOGIN_FAILURES_PER_ACCOUNT`): guessing one account is slow
  wherever the guesses come from. The price: a stranger can lock one account for a window; the
  address limit makes that costly, and staff can still sign in once it passes.
- per client address (`LOGIN_FAILURES_PER_ADDRESS`): spraying many accounts from one place.
  The address is the real client's behind a trusted proxy (`bot.client_address`), so one bad
  guesser behind nginx does not lock out every staff member.
A right password releases its reservation: the account's count is cleared and the address gets
its attempt back, so a clinic's staff behind one address never use up its allowance by signing in.
With `REDIS_URL` the counts are shared by every console process (`bot.rate_limits`).
"""
from __future__ import annotations

from dataclasses import dataclass

from bot import rate_limits
from bot.rate_limits import Windows
from bot.settings import Settings


@dataclass(frozen=True)
class Reservation:
    """One attempt that may go on to the password check, or a refusal with its wait."""

    allowed: bool
    retry_after: int = 0     # whole seconds, for the Retry-After header; 0 when allowed
    account_key: str = ""
    account_token: str = ""
    address_key: str = ""
    address_token: str = ""


class LoginThrottle:
    def __init__(self, windows: Windows, per_account: int = 5, per_address: int = 20):
        self.windows = windows
        self.per_account, self.per_address = per_account, per_address

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        return cls(rate_limits.windows(settings, "login", settings.login_window_seconds),
                   settings.login_failures_per_account, settings.login_failures_per_address)

    async def reserve(self, email: str, address: str) -> Reservation:
        """Record an attempt for `email` from `address`, unless either limit is already reached.
        The address is asked first: a refused address must not use up the account's attempts
        (else one locked-out attacker could lock every account)."""
        account_key, address_key = f"account:{email.lower()}", f"address:{address}"
        by_address = await self.windows.hit(address_key, self.per_address)
        if not by_address.allowed:
            return Reservation(False, rate_limits.seconds(by_address.retry_after))
        by_account = await self.windows.hit(account_key, self.per_account)
        if not by_account.allowed:
            await self.windows.release(address_key, by_address.token)  # never reached the hash
            return Reservation(False, rate_limits.seconds(by_account.retry_after))
        return Reservation(True, 0, account_key, by_account.token, address_key, by_address.token)

    async def succeeded(self, reservation: Reservation | None) -> None:
        """The password was right: forget the account's failures, give the address its attempt."""
        if reservation and reservation.allowed:
            await self.windows.clear(reservation.account_key)
            await self.windows.release(reservation.address_key, reservation.address_token)

    async def cancel(self, reservation: Reservation) -> None:
        """No password was checked after all (the database was down): give both attempts back."""
        if reservation.allowed:
            await self.windows.release(reservation.account_key, reservation.account_token)
            await self.windows.release(reservation.address_key, reservation.address_token)
