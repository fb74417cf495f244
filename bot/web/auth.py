"""Who is signed in: login/logout routes and the middleware that guards every other route.

Default deny: a route is reachable without a session only if it was registered with
`ctx_public=True` (or is a static file); without one, pages redirect to the login form and routes
registered with `ctx_api=True` answer 401. Every state-changing request, the login form included,
must carry the CSRF token. Admin-only handlers are wrapped in `admin_only`.
"""
from __future__ import annotations

import asyncio
import time
from functools import wraps
from typing import Dict, Optional
from urllib.parse import quote

from sanic import Blueprint, Request, response
from sanic.exceptions import Forbidden

from bot import accounts
from bot.handoff.store import StoreUnavailable
from bot.web import security
from bot.web.pages import render

bp = Blueprint("auth")

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class RevokedSessions:
    """Nonces of sessions ended by logout, kept until the cookie would have expired anyway."""

    def __init__(self, lifetime: float = security.SESSION_SECONDS):
        self.lifetime = lifetime
        self._until: Dict[str, float] = {}

    def revoke(self, nonce: str) -> None:
        now = time.time()
        self._until = {n: t for n, t in self._until.items() if t > now}
        self._until[nonce] = now + self.lifetime

    def __contains__(self, nonce: str) -> bool:
        return self._until.get(nonce, 0) > time.time()


def is_public(request: Request) -> bool:
    route = request.route
    return route is None or getattr(route.ctx, "public", False) or getattr(route.ctx, "static", False)


def secure_cookies(request: Request) -> bool:
    return request.app.ctx.settings.secure_cookies or request.scheme == "https"


def client_address(request: Request) -> str:
    return request.remote_addr or request.ip or "unknown"


def is_api(request: Request) -> bool:
    """Routes registered with `ctx_api=True` (fragments, events) answer 401 instead of redirecting."""
    return getattr(request.route.ctx, "api", False)


async def current_staff(request: Request):
    """The signed-in, active account for this request's session cookie, or None."""
    ctx = request.app.ctx
    session = ctx.sessions.decode(request.cookies.get(security.SESSION_COOKIE))
    if session is None or session.nonce in ctx.revoked:
        return None
    staff = await asyncio.to_thread(ctx.store.get_staff, session.email)
    if (staff is None or not staff.active
            or ctx.sessions.password_fingerprint(staff.password_hash) != session.password_fingerprint):
        return None
    request.ctx.session = session
    return staff


async def guard(request: Request) -> Optional[response.HTTPResponse]:
    """Request middleware: CSRF cookie, session lookup, login requirement, CSRF check."""
    ctx = request.app.ctx
    request.ctx.csrf_secret = request.cookies.get(security.CSRF_COOKIE)
    request.ctx.csrf_new = not request.ctx.csrf_secret
    if request.ctx.csrf_new:
        request.ctx.csrf_secret = security.new_csrf_secret()
    request.ctx.csrf_token = security.csrf_token(ctx.signer, request.ctx.csrf_secret)
    request.ctx.staff = None
    if request.route is None or getattr(request.route.ctx, "static", False):
        return None
    try:
        request.ctx.staff = await current_staff(request)
    except StoreUnavailable:
        return render(request, "error.html", status=503, title="Service unavailable",
                      message="The ticket database cannot be reached. Try again in a minute.")
    if request.ctx.staff is None and not is_public(request):
        if is_api(request):
            return response.json({"error": "Sign in first."}, status=401)
        target = request.path if request.method in SAFE_METHODS else "/console"
        return response.redirect(f"/login?next={quote(target)}", status=303)
    if request.method not in SAFE_METHODS:
        submitted = request.headers.get(security.CSRF_HEADER)
        if submitted is None and request.form:
            submitted = request.form.get(security.CSRF_FIELD)
        if request.ctx.csrf_new or not security.csrf_valid(ctx.signer, request.ctx.csrf_secret,
                                                           submitted):
            return render(request, "error.html", status=403, title="Form expired",
                          message="This form was out of date or did not come from this site. "
                                  "Nothing was changed. Go back, reload the page and try again.")
    return None


async def finish(request: Request, resp: response.HTTPResponse) -> None:
    """Response middleware: hand out the CSRF cookie once, add security headers everywhere."""
    if getattr(request.ctx, "csrf_new", False):
        security.set_cookie(resp, security.CSRF_COOKIE, request.ctx.csrf_secret,
                            secure=secure_cookies(request), max_age=None)
    for name, value in security.SECURITY_HEADERS.items():
        resp.headers.setdefault(name, value)


def admin_only(handler):
    @wraps(handler)
    async def wrapper(request: Request, *args, **kwargs):
        if request.ctx.staff.role != "admin":
            raise Forbidden("Only an administrator can do this.")
        return await handler(request, *args, **kwargs)
    return wrapper


def _safe_next(target: Optional[str]) -> str:
    """Only same-site paths: `//evil.example` or `https://...` would make an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


@bp.get("/login", ctx_public=True)
async def login_form(request: Request):
    if request.ctx.staff:
        return response.redirect(_safe_next(request.args.get("next")), status=303)
    return render(request, "login.html", next=_safe_next(request.args.get("next")))


@bp.post("/login", ctx_public=True)
async def login(request: Request):
    ctx = request.app.ctx
    form = request.form
    email = (form.get("email") or "").strip().lower()[:320]
    password = form.get("password") or ""
    target = _safe_next(form.get("next"))
    address = client_address(request)
    wait = ctx.throttle.retry_after(email, address)
    if wait:
        minutes = max(1, round(wait / 60))
        resp = render(request, "login.html", status=429, email=email, next=target,
                      error=f"Too many failed sign-in attempts. Try again in about {minutes} "
                            f"minute{'s' if minutes != 1 else ''}.")
        resp.headers["Retry-After"] = str(wait)
        return resp
    staff = await asyncio.to_thread(ctx.store.get_staff, email) if email else None
    valid = await asyncio.to_thread(accounts.verify_password,
                                    staff.password_hash if staff else None, password)
    if not (valid and staff.active):
        ctx.throttle.failed(email, address)
        return render(request, "login.html", status=401, email=email, next=target,
                      error="That email and password do not match an active staff account.")
    ctx.throttle.succeeded(email, address)
    session = ctx.sessions.new(staff.email, staff.password_hash)
    resp = response.redirect(target, status=303)
    security.set_cookie(resp, security.SESSION_COOKIE, ctx.sessions.encode(session),
                        secure=secure_cookies(request), max_age=int(ctx.sessions.lifetime))
    return resp


@bp.post("/logout")
async def logout(request: Request):
    request.app.ctx.revoked.revoke(request.ctx.session.nonce)
    resp = response.redirect("/login", status=303)
    security.clear_cookie(resp, security.SESSION_COOKIE, secure=secure_cookies(request))
    return resp
