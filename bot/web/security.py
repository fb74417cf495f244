"""Signed session cookies, CSRF tokens and response headers for the console.

Sessions are HMAC-signed cookies; only logouts are stored (the handoff store's revoked sessions,
kept until the cookie would expire). Every request still re-reads the account, so a deactivated
account or a changed password (its hash fingerprint is in the cookie) ends the session at once.
CSRF uses a random HttpOnly cookie plus a form/header token derived from it with the server key:
another site can neither read the cookie nor compute the token.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "fsgs_session"
CSRF_COOKIE = "fsgs_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600  # one long shift

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Pages show patient messages: never keep them in shared caches or the back-forward cache.
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Session:
    email: str
    nonce: str
    issued_at: float
    password_fingerprint: str


class Signer:
    """HMAC-SHA256 over a purpose label and a JSON payload, with the settings' secret key."""

    def __init__(self, secret_key: str):
        self._key = secret_key.encode()

    def _mac(self, purpose: str, body: bytes) -> str:
        digest = hmac.new(self._key, purpose.encode() + b"\0" + body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, purpose: str, payload: dict) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
        body = body.rstrip(b"=")  # cookie values stay unquoted
        return f"{body.decode()}.{self._mac(purpose, body)}"

    def unsign(self, purpose: str, value: str | None) -> dict | None:
        body, _, mac = (value or "").encode().partition(b".")
        if not mac or not hmac.compare_digest(mac, self._mac(purpose, body).encode()):
            return None
        try:
            return json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        except ValueError:
            return None

    def fingerprint(self, purpose: str, value: str) -> str:
        return self._mac(purpose, value.encode())[:22]


class SessionCodec:
    """Turns a `Session` into a cookie value and back, rejecting forged or expired ones."""

    def __init__(self, signer: Signer, lifetime: float = SESSION_SECONDS):
        self.signer = signer
        self.lifetime = lifetime

    def new(self, email: str, password_hash: str) -> Session:
        return Session(email, secrets.token_urlsafe(16), time.time(),
                       self.password_fingerprint(password_hash))

    def password_fingerprint(self, password_hash: str) -> str:
        return self.signer.fingerprint("password", password_hash)

    def encode(self, session: Session) -> str:
        return self.signer.sign("session", {"e": session.email, "n": session.nonce,
                                            "t": session.issued_at, "p": session.password_fingerprint})

    def decode(self, value: str | None) -> Session | None:
        data = self.signer.unsign("session", value)
        if not data:
            return None
        try:
            session = Session(str(data["e"]), str(data["n"]), float(data["t"]), str(data["p"]))
        except (KeyError, TypeError, ValueError):
            return None
        return session if time.time() - session.issued_at < self.lifetime else None


def new_csrf_secret() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(signer: Signer, csrf_secret: str) -> str:
    return signer.fingerprint("csrf", csrf_secret)


def csrf_valid(signer: Signer, csrf_secret: str | None, submitted: str | None) -> bool:
    if not csrf_secret or not submitted:
        return False
    # Bytes: a non-ASCII token is simply wrong (str comparison raises TypeError on it).
    return hmac.compare_digest(csrf_token(signer, csrf_secret).encode(), submitted.encode())


def set_cookie(response, name: str, value: str, *, secure: bool, max_age: int | None,
               samesite: str = "Lax") -> None:
    response.cookies[name] = value
    cookie = response.cookies[name]
    cookie["path"] = "/"
    cookie["httponly"] = True
    cookie["samesite"] = samesite
    cookie["secure"] = secure
    if max_age is not None:
        cookie["max-age"] = max_age


def clear_cookie(response, name: str, *, secure: bool) -> None:
    set_cookie(response, name, "", secure=secure, max_age=0)
