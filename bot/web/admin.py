"""Admin-only staff account page: list accounts and add one (same rules as `fsgs-bot staff add`)."""
from __future__ import annotations

from asyncio import to_thread

from sanic import Blueprint, Request, response

from bot import accounts
from bot.handoff.store import InvalidInput
from bot.web.auth import admin_only
from bot.web.forms import FormError
from bot.web.pages import render

bp = Blueprint("admin")


async def _page(request: Request, status: int = 200, error=None, email: str = "", role: str = "staff"):
    staff_list = await to_thread(request.app.ctx.store.list_staff)
    return render(request, "staff.html", status=status, staff_list=staff_list, error=error,
                  email=email, role=role, roles=accounts.ROLES, min_password=accounts.MIN_PASSWORD_CHARS,
                  added=request.args.get("added") == "1", form_id=request.app.ctx.submitted.new_id())


@bp.get("/console/staff")
@admin_only
async def staff_page(request: Request):
    return await _page(request)


@bp.post("/console/staff")
@admin_only
async def add_staff(request: Request):
    form = request.form
    email, role = (form.get("email") or "").strip()[:320], form.get("role") or ""
    try:
        if (form.get("password") or "") != (form.get("password_again") or ""):
            raise accounts.AccountError("The two passwords are not the same.")
        address, role = accounts.normalise_email(email), accounts.check_role(role)
        password_hash = await to_thread(accounts.hash_password, form.get("password") or "")
        await request.app.ctx.submitted.accept(form.get("form_id"))
        await to_thread(request.app.ctx.store.add_staff, address, password_hash, role)
    except (accounts.AccountError, InvalidInput) as exc:
        return await _page(request, 422, str(exc), email, role)
    except FormError as exc:
        return await _page(request, exc.status, str(exc), email, role)
    return response.redirect("/console/staff?added=1", status=303)
