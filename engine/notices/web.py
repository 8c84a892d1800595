"""HTTP edges of the notice flow: SMS receipts and replies, one-click unsubscribe, operator retry.

The SMS provider's pushes (`/webhooks/sms-report`, `/webhooks/sms-reply`) are protected by a
shared token in the push URL's query (`?token=…`, POLICY_PUSH_SMS_REPORT_TOKEN): Aliyun's
SmsReport push cannot add headers or sign its body, so the token is what the console lets one
configure. It is compared in constant time; without a configured token the endpoints answer 503.
"""

from __future__ import annotations

import datetime
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from engine.core import notice_status
from engine.http import auth, responses
from engine.ingest import mobile, strict_json
from engine.notices import config, operator_actions, outbox, unsubscribe, worker

#: The store the receipt, unsubscribe and requeue routes read and write.
NOTICES = web.AppKey("notice_store", outbox.NoticeStore)
#: The notice settings (receipt token, signing key of unsubscribe links).
CONFIG = web.AppKey("notice_config", config.NoticeSettings)

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

#: Replies that mean "stop sending me SMS" (the MIIT rule: an easy way to refuse must be honoured).
OPT_OUT_WORDS = frozenset({"T", "TD", "退订", "N", "0000"})


def _check_push_token(request: web.Request) -> None:
    expected = request.app[CONFIG].sms_report_token
    if not expected:
        raise responses.error(503, "not_configured", "no SMS push token is configured (POLICY_PUSH_SMS_REPORT_TOKEN)")
    given = request.query.get("token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise responses.error(401, "unauthorized", "missing or wrong ?token= on the push URL")


async def _json_array(request: web.Request) -> list[Any]:
    try:
        body = await request.json(loads=strict_json.parse_json)
    except strict_json.DuplicateKey as exc:
        raise responses.error(422, "duplicate_key", f"the body is ambiguous: {exc}", problems=[exc.problem()]) from None
    except ValueError:
        raise responses.error(400, "invalid_json", "the body is not JSON") from None
    if not isinstance(body, list):
        raise responses.error(422, "invalid_request", "expected a JSON array", problems=[{"path": "", "reason": "must be an array"}])
    return body


async def _receipt_digest(store: outbox.NoticeStore, item: dict[str, Any]) -> list[outbox.NoticeRecord]:
    """The notices a receipt settles: the digest its OutId names (a notice id for a message sent alone before
    digests), else the one its BizId was given to."""
    out_id, biz_id = item.get("out_id"), item.get("biz_id")
    if isinstance(out_id, str) and out_id:
        digest = await store.digest_notices(out_id)
        if digest:
            return digest
        notice = await store.get_notice(out_id)
        if notice is not None:
            return [notice]
    if isinstance(biz_id, str) and biz_id:
        notice = await store.find_notice_by_provider_id(biz_id)
        if notice is not None:
            return await store.digest_notices(notice.digest_id) if notice.digest_id else [notice]
    return []


@routes.post("/webhooks/sms-report")
async def sms_report(request: web.Request) -> web.Response:
    """Aliyun SmsReport receipts: move notices to delivered / undelivered. Unknown ids are logged, not errors
    (the provider retries failed pushes, and a receipt for another system's message must not block ours)."""
    _check_push_token(request)
    store = request.app[NOTICES]
    for item in await _json_array(request):
        if not isinstance(item, dict):
            continue
        digest = await _receipt_digest(store, item)
        if not digest or digest[0].channel != "sms":
            log.warning("sms receipt for no known notice: out_id=%r biz_id=%r", item.get("out_id"), item.get("biz_id"))
            continue
        delivered = item.get("success") is True or item.get("err_code") == "DELIVERED"
        new = notice_status.NoticeStatus.DELIVERED if delivered else notice_status.NoticeStatus.UNDELIVERED
        for status in (notice_status.NoticeStatus.SENT, notice_status.NoticeStatus.DEAD):
            # Only notices not yet settled (the provider retries pushes): a repeated receipt changes nothing.
            unsettled = [n for n in digest if n.status is status]
            if not unsettled:
                continue
            await store.transition_digest(
                unsettled,
                outbox.Transition(
                    new, "receipt", item.get("err_code") or ("DELIVERED" if delivered else "FAILED"),
                    reason=None if delivered else f"{item.get('err_code')}: {item.get('err_msg')}",
                    provider_id=item.get("biz_id") if isinstance(item.get("biz_id"), str) else None,
                    response=item,
                ),
                expect=status,
            )
    return responses.json_response({"code": 0, "msg": "接收成功"})


@routes.post("/webhooks/sms-reply")
async def sms_reply(request: web.Request) -> web.Response:
    """Aliyun SmsUp replies: "T", "TD" or "退订" opts every firm with that number out of SMS."""
    _check_push_token(request)
    store = request.app[NOTICES]
    for item in await _json_array(request):
        if not isinstance(item, dict) or not isinstance(item.get("content"), str) or not isinstance(item.get("phone_number"), str):
            continue
        word = item["content"].strip().upper()
        if word not in OPT_OUT_WORDS:
            continue
        try:
            number = mobile.normalise(item["phone_number"])
        except Exception:  # a malformed number in a provider push: nothing to opt out
            log.warning("sms reply from an unparseable number %r", item["phone_number"])
            continue
        for uscc in await store.firms_with_mobile(number):
            await store.opt_out(uscc, "sms", f"sms reply {word!r}", _now())
            log.info("firm %s opted out of sms by reply %r", uscc, word)
    return responses.json_response({"code": 0, "msg": "接收成功"})


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _read_unsubscribe(request: web.Request) -> tuple[str, str] | None:
    try:
        return unsubscribe.read_token(request.app[CONFIG].signing_key(), request.match_info["token"])
    except unsubscribe.InvalidToken:
        return None


_BAD_LINK = "退订链接无效或已损坏，请使用邮件中的完整链接。"


@routes.get("/unsubscribe/{token}")
async def unsubscribe_page(request: web.Request) -> web.Response:
    """The link in the email: a confirmation page (a GET must not change anything: mail scanners follow links)."""
    if _read_unsubscribe(request) is None:
        return web.Response(status=404, text=_BAD_LINK, content_type="text/plain", charset="utf-8")
    page = (
        "<!doctype html><html lang='zh-CN'><meta charset='utf-8'><title>退订邮件通知</title>"
        "<body><h1>退订政策通知邮件</h1><p>退订后，本服务将不再通过电子邮件向贵单位发送政策通知。</p>"
        "<form method='post'><input type='hidden' name='List-Unsubscribe' value='One-Click'>"
        "<button type='submit'>确认退订</button></form></body></html>"
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8")


@routes.post("/unsubscribe/{token}")
async def unsubscribe_post(request: web.Request) -> web.Response:
    """RFC 8058 one-click unsubscribe (and the confirmation form): the firm gets no more email."""
    found = _read_unsubscribe(request)
    if found is None:
        return web.Response(status=404, text=_BAD_LINK, content_type="text/plain", charset="utf-8")
    uscc, channel = found
    await request.app[NOTICES].opt_out(uscc, channel, "email one-click unsubscribe", _now())
    log.info("firm %s opted out of %s by unsubscribe link", uscc, channel)
    return web.Response(text="已退订：贵单位将不再收到政策通知邮件。", content_type="text/plain", charset="utf-8")


@routes.post("/api/notices/{notice_id}/retry")
async def retry_notice(request: web.Request) -> web.Response:
    """Requeue a dead or undelivered notice (operator role)."""
    return await _operator_action(request, operator_actions.requeue)


@routes.post("/api/notices/{notice_id}/release")
async def release_notice(request: web.Request) -> web.Response:
    """Release a held notice for sending (operator role): its benefit's window closed long before it was recorded."""
    return await _operator_action(request, operator_actions.release)


async def _operator_action(
    request: web.Request, action: Callable[[outbox.NoticeStore, str, str], Awaitable[outbox.NoticeRecord]]
) -> web.Response:
    token = auth.require_role(request, "operator")
    try:
        notice = await action(request.app[NOTICES], request.match_info["notice_id"], f"token #{token.id} {token.label}".strip())
    except KeyError:
        raise responses.error(404, "not_found", f"no notice {request.match_info['notice_id']!r}") from None
    except notice_status.IllegalTransition as exc:
        raise responses.error(409, "conflict", str(exc)) from None
    if worker.DELIVERY in request.app:
        request.app[worker.DELIVERY].wake()
    return responses.json_response({"notice_id": notice.notice_id, "status": notice.status.value})
