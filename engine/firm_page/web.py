"""The firm's page (我的政策) on the web: `GET /my/{token}` and its three forms.

The link is the key: no login, no cookie. A link that is not ours, has expired or was revoked gets a
Chinese page with a 4xx status and no firm data. Forms carry a token bound to the link (CSRF: a page on
another site cannot make one), and every answer goes through the store, which keeps it with its audit
entry. The page is framed by nobody, leaks its URL to nobody (Referrer-Policy: no-referrer) and runs no
script; its only style is inline with a per-response nonce.
"""

from __future__ import annotations

import datetime
import logging
import pathlib
import secrets
from collections.abc import Mapping
from typing import Any

import jinja2
from aiohttp import web

from engine.core import china_time, glossary, matching, records
from engine.firm_page import rules, store
from engine.notices import config, firm_links, outbox, withholding
from engine.notices import web as notices_web

log = logging.getLogger(__name__)


class PageStore(outbox.NoticeStore, store.FirmPageStore):
    """What the page reads and writes: the firm, its decisions and SMS choice, its answers, its revocation."""


#: The store the page uses (the app factory sets the service's store).
STORE = web.AppKey("firm_page_store", PageStore)
#: The matcher whose catalogue the page explains decisions with.
MATCHER = web.AppKey("firm_page_matcher", matching.Matcher)

FORM_FIELD = "form_token"
#: A form older than this is refused (the page is reloaded for a fresh one): a day covers a slow reader.
FORM_MAX_AGE = datetime.timedelta(days=1)

#: The SMS choices as the firm reads them (the glossary's `sms_choice`, in outbox.SMS_PREFERENCES order).
SMS_CHOICES = {code: glossary.load().table("sms_choice")[code] for code in outbox.SMS_PREFERENCES}

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(pathlib.Path(__file__).parent / "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
)

_BAD = ("链接无效", "此链接无效或不完整。请使用政策通知邮件中的完整链接打开。")
_EXPIRED = ("链接已过期", "此链接已过期。请打开最近一封政策通知邮件中的链接，或联系主管部门获取新链接。")
_REVOKED = ("链接已停用", "此链接已被主管部门停用。请打开最近一封政策通知邮件中的链接，或联系主管部门。")
_FORM = ("页面已过期", "页面已过期或来源不明，操作未执行。请重新打开邮件中的链接后再试。")
_STALE = ("事项已更新", "该事项的判定结果已更新，操作未执行。请重新打开本页查看最新结果后再操作。")

routes = web.RouteTableDef()


def chinese_time(moment: datetime.datetime) -> str:
    """``2026年12月1日 16:00`` (China time)."""
    local = moment.astimezone(china_time.CHINA_TZ)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def _headers(nonce: str | None = None) -> dict[str, str]:
    style = f"'nonce-{nonce}'" if nonce else "'none'"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src {style}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        # The URL is the key: it must never travel to another site in a Referer header.
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex, nofollow",
    }


def _render(template: str, context: Mapping[str, Any], *, status: int = 200) -> web.Response:
    nonce = secrets.token_urlsafe(16)
    html = _TEMPLATES.get_template(template).render(nonce=nonce, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=_headers(nonce))


def refusal(status: int, words: tuple[str, str]) -> web.Response:
    """A page that says why nothing is shown, with no firm data."""
    title, message = words
    return _render("refused.html", {"title": title, "message": message}, status=status)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def _open(request: web.Request) -> tuple[str, datetime.datetime, records.FirmRecord] | web.Response:
    """The firm a link opens, with the link's issue time; or the refusal page."""
    settings: config.NoticeSettings = request.app[notices_web.CONFIG]
    token = request.match_info["token"]
    try:
        uscc, issued = firm_links.read_token(settings.signing_key(), token, _now(), settings.firm_link_lifetime)
    except firm_links.ExpiredLink:
        return refusal(410, _EXPIRED)
    except firm_links.InvalidLink:
        return refusal(404, _BAD)
    page_store = request.app[STORE]
    if firm_links.revoked(issued, await page_store.links_revoked_before(uscc)):
        return refusal(410, _REVOKED)
    firm = await page_store.get_firm(uscc)
    if firm is None:
        return refusal(404, _BAD)
    return uscc, issued, firm


async def _page(
    request: web.Request, uscc: str, issued: datetime.datetime, firm: records.FirmRecord, *,
    status: int = 200, error: tuple[str, str] | None = None, typed: str = "", notice: str | None = None,
) -> web.Response:
    settings: config.NoticeSettings = request.app[notices_web.CONFIG]
    page_store = request.app[STORE]
    catalogue = request.app[MATCHER].catalogue  # type: ignore[attr-defined]
    decisions = await page_store.decisions(uscc)
    responses = await page_store.firm_responses(uscc)
    listed = rules.items(catalogue, decisions, responses, china_time.today_in_china())
    refusal_reason = withholding.opt_out_reason("sms", firm.stamps, await page_store.opt_outs(uscc))
    choice = withholding.sms_choice(await page_store.sms_preference(uscc), refusal_reason)
    token = request.match_info["token"]
    return _render("page.html", {
        "firm_name": firm.fields.get("name") or "贵单位",
        "uscc": uscc,
        "mobile": firm.fields.get("contact.mobile"),
        "email": firm.fields.get("contact.email"),
        "groups": [(kind, heading, [i for i in listed if i.kind == kind]) for kind, heading in rules.KIND_HEADINGS.items()],
        "count": len(listed),
        "base": f"/my/{token}",
        "form_token": firm_links.form_token(settings.signing_key(), token),
        "sms_choices": SMS_CHOICES,
        "sms_choice": choice,
        "expires": chinese_time(issued + settings.firm_link_lifetime),
        "error": error,
        "typed": typed,
        "notice": notice,
        "when": chinese_time,
        "reason_max": rules.REASON_MAX,
        "CONFIRM": store.CONFIRM,
    }, status=status)


@routes.get("/m/{token}")
async def short_link(request: web.Request) -> web.Response:
    """The short link an SMS carries: to the firm's page, under a long link of the same issue time (so it
    expires and is revoked just as the short one would)."""
    settings: config.NoticeSettings = request.app[notices_web.CONFIG]
    try:
        uscc, issued = firm_links.read_short_token(settings.signing_key(), request.match_info["token"], _now(), settings.firm_link_lifetime)
    except firm_links.ExpiredLink:
        return refusal(410, _EXPIRED)
    except firm_links.InvalidLink:
        return refusal(404, _BAD)
    if firm_links.revoked(issued, await request.app[STORE].links_revoked_before(uscc)):
        return refusal(410, _REVOKED)
    raise web.HTTPSeeOther(f"/my/{firm_links.make_token(settings.signing_key(), uscc, issued)}", headers=_headers())


@routes.get("/my/{token}")
async def firm_page(request: web.Request) -> web.Response:
    """The firm's current decisions, its answers and its SMS choice."""
    opened = await _open(request)
    if isinstance(opened, web.Response):
        return opened
    saved = "已保存短信接收方式。" if request.query.get("saved") == "preferences" else None
    return await _page(request, *opened, notice=saved)


async def _form(request: web.Request) -> Mapping[str, Any] | web.Response:
    data = await request.post()
    settings: config.NoticeSettings = request.app[notices_web.CONFIG]
    if not firm_links.form_token_valid(settings.signing_key(), request.match_info["token"], data.get(FORM_FIELD), FORM_MAX_AGE):
        log.warning("firm page form refused: bad or missing form token on %s", request.path.split("/my/")[0] + "/my/…")
        return refusal(403, _FORM)
    return data


async def _answer(request: web.Request, action: str) -> web.Response:
    opened = await _open(request)
    if isinstance(opened, web.Response):
        return opened
    uscc, issued, firm = opened
    data = await _form(request)
    if isinstance(data, web.Response):
        return data
    clause_id = request.match_info["clause_id"]
    page_store = request.app[STORE]
    stored = rules.current(await page_store.decisions(uscc)).get(clause_id)
    if stored is None:
        return refusal(404, ("没有该事项", "贵单位没有该政策事项的判定结果。"))
    if str(data.get("decision_id", "")) != str(stored.id):
        return refusal(409, _STALE)
    reason = None
    if action == store.OBJECT:
        try:
            reason = rules.clean_reason(data.get("reason"))
        except rules.ReasonError as exc:
            typed = data.get("reason") if isinstance(data.get("reason"), str) else ""
            return await _page(request, uscc, issued, firm, status=422, error=(clause_id, str(exc)), typed=typed[: rules.REASON_MAX * 2])
    await page_store.record_response(uscc, clause_id, stored.id, action, reason, _now())
    raise web.HTTPSeeOther(f"/my/{request.match_info['token']}#item-{clause_id}")


@routes.post("/my/{token}/items/{clause_id}/confirm")
async def confirm(request: web.Request) -> web.Response:
    """确认: the firm agrees with what its page says of the decision."""
    return await _answer(request, store.CONFIRM)


@routes.post("/my/{token}/items/{clause_id}/object")
async def object_to(request: web.Request) -> web.Response:
    """有异议: the firm disputes the decision; the reason is required and goes to the console's queue."""
    return await _answer(request, store.OBJECT)


@routes.post("/my/{token}/preferences")
async def preferences(request: web.Request) -> web.Response:
    """The firm's SMS choice: all, automatic grants only, or none (the opt-out)."""
    opened = await _open(request)
    if isinstance(opened, web.Response):
        return opened
    uscc, issued, firm = opened
    data = await _form(request)
    if isinstance(data, web.Response):
        return data
    choice = data.get("sms")
    if choice not in SMS_CHOICES:
        return await _page(request, uscc, issued, firm, status=422, error=("preferences", "请选择一种“短信接收方式”后再保存。"))
    await request.app[STORE].set_sms_preference(uscc, str(choice), rules.firm_actor(uscc), _now())
    raise web.HTTPSeeOther(f"/my/{request.match_info['token']}?saved=preferences#preferences")
