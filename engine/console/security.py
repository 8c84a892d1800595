"""Who may do what in the console: sessions on requests, roles, CSRF, PII masking, auditing.

Handlers declare the least role they need with `@require("viewer"|"operator"|"admin")`; every
state-changing POST reads its form through `form(request)`, which checks the session's CSRF
token. Contact data (mobile numbers, email addresses, contact names) is masked for viewers by
the `pii` template filter; pages that show it unmasked call `record_unmasked_view`, so each
such view is itself in the audit trail.
"""

from __future__ import annotations

import functools
import hmac
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp_jinja2
import jinja2
import yarl
from aiohttp import web
from multidict import MultiDictProxy

from engine import audit
from engine.console import accounts, keys, sessions
from engine.console.accounts_store import ACCOUNTS
from engine.core import pii
from engine.http import auth

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Re-exported: the operator a handler sees (id, username, display_name, role).
OperatorRecord = accounts.OperatorRecord

ROLES = accounts.ROLES
ROLE_LABELS = {"viewer": "查看员", "operator": "操作员", "admin": "管理员"}

PREFIX = "/console"
LOGIN_PATH = "/console/login"

OPERATOR = web.RequestKey("console_operator", accounts.OperatorRecord)
SESSION = web.RequestKey("console_session", sessions.Session)

CSRF_FIELD = "csrf_token"
CSRF_MESSAGE = "表单已失效或来源不明（CSRF 校验失败），操作未执行。请刷新页面后重试。"

#: The page shown for an error status under /console, and its default message.
ERROR_PAGES = {403: ("403.html", "您没有执行此操作的权限。"), 404: ("404.html", "页面不存在。")}
ERROR_MESSAGES = {
    400: "请求有误。", 405: "不支持此请求方法。", 413: "提交的内容过大。", 429: "请求过于频繁，请稍后再试。",
    500: "服务器内部错误，已记录日志。请稍后再试或联系管理员。",
}

#: Sent with every console response: no framing (clickjacking), no caching of pages that show
#: personal data (the back button after logout must not show them), no leaking URLs to other sites.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    # No scripts at all (the console has none: an injected one cannot run); styles are inline.
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _login_redirect(request: web.Request) -> web.HTTPFound:
    # Only a GET can be repeated after login; a POST's target is not a page to come back to.
    target = yarl.URL(LOGIN_PATH)
    if request.method == "GET":
        target = target.with_query(next=request.path_qs)
    return web.HTTPFound(str(target))


def require(role: str) -> Callable[[Handler], Handler]:
    """Decorate a console handler: anonymous → 302 to the login page (with ?next=), role too low → 403.
    The role is kept on the handler as `console_role`, so tests can walk the routes against the docs."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            operator = request.get(OPERATOR)
            if operator is None:
                raise _login_redirect(request)
            if not auth.role_allows(operator.role, role):
                raise web.HTTPForbidden(text=f"此操作需要“{ROLE_LABELS[role]}”或更高角色；您的角色是“{ROLE_LABELS[operator.role]}”。")
            return await handler(request)

        wrapped.console_role = role  # type: ignore[attr-defined]
        return wrapped

    return decorate


def current_operator(request: web.Request) -> accounts.OperatorRecord:
    """The logged-in operator (behind `require`, always set)."""
    operator = request.get(OPERATOR)
    if operator is None:
        raise _login_redirect(request)
    return operator


def same_token(given: Any, expected: str) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


async def form(request: web.Request) -> MultiDictProxy:
    """The POSTed form, after checking its `csrf_token` against the session's (403 if it does not match)."""
    data = await request.post()
    session = request.get(SESSION)
    if session is None or not same_token(data.get(CSRF_FIELD), session.csrf_token):
        log.warning("CSRF check failed on %s %s from %s", request.method, request.path, request.remote)
        raise web.HTTPForbidden(text=CSRF_MESSAGE)
    return data


# PII --------------------------------------------------------------------------------------------

PII_KINDS = tuple(sorted(set(pii.PII_FIELDS.values())))


def can_see_pii(request: web.Request) -> bool:
    """Operators and admins see contact data in clear (audited); viewers see it masked."""
    operator = request.get(OPERATOR)
    return operator is not None and auth.role_allows(operator.role, "operator")


def mask(value: str | None, kind: str) -> str:
    """Mask contact data: mobile 13812348000 → 138****8000, email foo@example.cn → f***@example.cn,
    name 张三 → 张*. Enough stays to tell records apart and recognise a known firm, not to contact it.
    The rule is engine.pii's, so the console and the API mask alike."""
    if kind not in PII_KINDS:
        raise ValueError(f"unknown PII kind {kind!r}; use one of {', '.join(PII_KINDS)}")
    return pii.mask(None if value is None else str(value).strip(), kind)


@jinja2.pass_context
def pii_filter(context: jinja2.runtime.Context, value: Any, kind: str) -> str:
    """`{{ contact.mobile | pii("mobile") }}`: masked unless the operator may see PII.
    (A page showing PII unmasked must also call `record_unmasked_view`.)"""
    request = context.get("request")
    if isinstance(request, web.Request) and can_see_pii(request):
        return "" if value is None else str(value)
    return mask(value, kind)


def actor(operator: accounts.OperatorRecord) -> str:
    """How an operator appears in the audit trail."""
    return f"{operator.username} ({operator.role})"


async def audit_action(request: web.Request, action: str, subject_type: str, subject_id: str, payload: dict[str, Any]) -> None:
    """Append an operator action to the audit trail, the actor being "<username> (<role>)"."""
    draft = audit.Draft(actor(current_operator(request)), action, subject_type, str(subject_id), payload)
    await request.app[keys.STORAGE].append_audit([draft])


async def record_unmasked_view(request: web.Request, subject_type: str, subject_id: str, fields: Sequence[str]) -> None:
    """Audit that this operator was shown `fields` of a subject unmasked ("pii.viewed").
    Does nothing for viewers, who are shown masked values only."""
    if not can_see_pii(request) or not fields:
        return
    await audit_action(request, "pii.viewed", subject_type, subject_id, {"fields": list(fields), "path": request.path_qs})


# Middleware -------------------------------------------------------------------------------------

def template_context(request: web.Request) -> dict[str, Any]:
    """What every console template may use: request, operator, role label, csrf_token."""
    session = request.get(SESSION)
    operator = request.get(OPERATOR)
    return {
        "request": request,
        "operator": operator,
        "role_label": ROLE_LABELS.get(operator.role, operator.role) if operator else "",
        "csrf_token": session.csrf_token if session else "",
        "can_see_pii": can_see_pii(request),
    }


def error_page(request: web.Request, status: int, message: str | None = None) -> web.Response:
    """The console's HTML page for an error status (403, 404 and a generic one for the rest)."""
    template, default = ERROR_PAGES.get(status, ("error.html", ERROR_MESSAGES.get(status, "请求未能完成。")))
    context = {**template_context(request), "status": status, "message": message or default}
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def _message(exc: web.HTTPException) -> str | None:
    # A handler may raise e.g. HTTPForbidden(text="…") with a message for the operator; aiohttp's
    # own default body ("403: Forbidden") is not one.
    text = exc.text or ""
    if not text or text.startswith(f"{exc.status}:") or exc.content_type == "application/json":
        return None
    return text


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For /console paths: attach the session and operator (if the cookie names a live session),
    give templates their common context, and render errors as console pages instead of JSON."""
    if request.path != PREFIX and not request.path.startswith(PREFIX + "/"):
        return await handler(request)
    token = request.cookies.get(sessions.COOKIE_NAME)
    if token:
        session = await sessions.load(request.app[ACCOUNTS], token, sessions.now(request))
        if session is not None:
            request[SESSION] = session
            request[OPERATOR] = session.operator
    with warnings.catch_warnings():
        # aiohttp-jinja2 reads the per-request template context from a plain string key, which aiohttp
        # warns about (once per key and process); it is that library's documented mechanism.
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        request[aiohttp_jinja2.REQUEST_CONTEXT_KEY] = template_context(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or _started(request):
            raise
        page = error_page(request, exc.status, _message(exc))
        if "Allow" in exc.headers:  # a 405 says which methods the route takes
            page.headers["Allow"] = exc.headers["Allow"]
        return page
    except Exception:
        if _started(request):
            raise
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_page(request, 500)


def _started(request: web.Request) -> bool:
    # A streamed response (CSV export) that failed half-way has sent its headers: no page can follow.
    return getattr(request.writer, "output_size", 0) > 0


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: runs for streamed responses (CSV exports) too."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
