"""Who is signed in: login/logout routes and the middleware that guards every other route.

Default deny: a route is reachable without a session only if it was registered with
`ctx_public=True` (or is a static file); without one, pages redirect to the login form and routes
registered with `ctx_api=True` answer 401. Every state-changing request, the login form included,
must carry the CSRF token. Admin-only handlers are wrapped in `admin_only`.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime, timezone
from functools import wraps
from urllib.parse import quote

from sanic import Blueprint, Request, response
from sanic.exceptions import Forbidden

from bot import accounts
from bot.client_address import request_client_address
from bot.handoff.store import HandoffStore, StaffView, StoreUnavailable
from bot.web import security
from bot.web.pages import render

bp = Blueprint("auth")
logger = logging.getLogger(__name__)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def is_public(request: Request) -> bool:
    route = request.route
    return route is None or getattr(route.ctx, "public", False) or getattr(route.ctx, "static", False)


def secure_cookies(request: Request) -> bool:
    return request.app.ctx.settings.secure_cookies or request.scheme == "https"


def client_address(request: Request) -> str:
    """The real client behind a trusted proxy (TRUSTED_PROXIES), else the connection's peer."""
    return request_client_address(request, request.app.ctx.settings.trusted_proxies)


def is_api(request: Request) -> bool:
    """Routes registered with `ctx_api=True` (fragments, events) answer 401 instead of redirecting."""
    return request.route is not None and bool(getattr(request.route.ctx, "api", False))


async def current_staff(request: Request):
    """The signed-in, active account for this request's session cookie, or None."""
    ctx = request.app.ctx
    session = ctx.sessions.decode(request.cookies.get(security.SESSION_COOKIE))
    if session is None:
        return None
    staff = await asyncio.to_thread(_unrevoked_staff, ctx.store, session)
    if (staff is None or not staff.active
            or ctx.sessions.password_fingerprint(staff.password_hash) != session.password_fingerprint):
        return None
    request.ctx.session = session
    return staff


def _unrevoked_staff(store: HandoffStore, session: security.Session) -> StaffView | None:
    """The session's account, or None if the session was ended by logout (in any console
    process, before or after a restart: the revocations are in the handoff database)."""
    return None if store.session_revoked(session.nonce) else store.get_staff(session.email)


def _account_label(email: str) -> str:
    """Names an account in logs without the typed text (a password typed into the email field)."""
    return hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()[:10]


async def guard(request: Request) -> response.HTTPResponse | None:
    """Request middleware: CSRF cookie, session lookup, login requirement, CSRF check."""
    ctx = request.app.ctx
    request.ctx.csrf_secret = request.cookies.get(security.CSRF_COOKIE)
    request.ctx.csrf_new = not request.ctx.csrf_secret
    if request.ctx.csrf_new:
        request.ctx.csrf_secret = security.new_csrf_secret()
    request.ctx.csrf_token = security.csrf_token(ctx.signer, str(request.ctx.csrf_secret))
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


def _safe_next(target: str | None) -> str:
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
    # Reserved before the check, so parallel guesses cannot all reach the hash (bot.web.throttle).
    reservation = await ctx.throttle.reserve(email, address)
    if not reservation.allowed:
        wait = reservation.retry_after
        minutes = max(1, round(wait / 60))
        resp = render(request, "login.html", status=429, email=email, next=target,
                      error=f"Too many failed sign-in attempts. Try again in about {minutes} "
                            f"minute{'s' if minutes != 1 else ''}.")
        resp.headers["Retry-After"] = str(wait)
        return resp
    try:
        staff = await asyncio.to_thread(ctx.store.get_staff, email) if email else None
    except StoreUnavailable:
        await ctx.throttle.cancel(reservation)  # nobody's password was checked
        raise
    valid = await asyncio.to_thread(accounts.verify_password,
                                    staff.password_hash if staff else None, password)
    if staff is None or not (valid and staff.active):
        logger.warning("Sign-in refused: account %s from %s", _account_label(email), address)
        return render(request, "login.html", status=401, email=email, next=target,
                      error="That email and password do not match an active staff account.")
    await ctx.throttle.succeeded(reservation)
    account: StaffView = staff
    if accounts.needs_rehash(account.password_hash):
        account = await asyncio.to_thread(_upgrade_hash, ctx.store, account, password)
    session = ctx.sessions.new(account.email, account.password_hash)
    resp = response.redirect(target, status=303)
    security.set_cookie(resp, security.SESSION_COOKIE, ctx.sessions.encode(session),
                        secure=secure_cookies(request), max_age=int(ctx.sessions.lifetime))
    return resp


def _upgrade_hash(store: HandoffStore, staff: StaffView, password: str) -> StaffView:
    """Store a hash with today's argon2 parameters (the account's other sessions end once, as
    after a password change); if the hash changed meanwhile, the stored one stands. An upgrade
    that cannot be written now is tried again at the next sign-in."""
    try:
        store.replace_password_hash(staff.email, staff.password_hash, accounts.upgraded_hash(password))
        return store.get_staff(staff.email) or staff
    except StoreUnavailable:
        return staff


@bp.post("/logout")
async def logout(request: Request):
    ctx, session = request.app.ctx, request.ctx.session
    expires_at = datetime.fromtimestamp(session.issued_at + ctx.sessions.lifetime, timezone.utc)
    await asyncio.to_thread(ctx.store.revoke_session, session.nonce, session.email, expires_at)
    resp = response.redirect("/login", status=303)
    security.clear_cookie(resp, security.SESSION_COOKIE, secure=secure_cookies(request))
    return resp
