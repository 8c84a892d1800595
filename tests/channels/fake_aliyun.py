"""A local stand-in for Aliyun dysmsapi `SendSms`, plus a helper that pushes SmsReport receipts.

The fake keeps the documented contract: signature V3 checked with connectors.aliyun_signing.verify
(bad signature → HTTP 400 `SignatureDoesNotMatch`, unknown key → 404 `InvalidAccessKeyId.NotFound`,
a reused nonce → `SignatureNonceUsed`), required parameters (→ 400 `MissingPhoneNumbers` …),
business errors answered with HTTP 200 and an `isv.*` Code, success as {Code: OK, Message, BizId,
RequestId}. Failures can be scripted for a phone number, as a queue for the next requests, or for
every request until cleared (`fail_all`: an outage or a throttled account).

Serve `fake.app` with aiohttp.test_utils.TestServer in the test's loop, and call `fake.release()`
before closing the server so slow answers do not hold the shutdown.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import itertools
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from connectors import aliyun_signing

KEY_ID = "LTAI5tFakeAccessKeyId"
KEY_SECRET = "fake-access-key-secret"
ACTION = "SendSms"
VERSION = "2017-05-25"

#: Mainland mobile numbers as SendSms takes them: 11 digits, no +86.
MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
#: SendSms takes at most this many comma-separated numbers per call.
MAX_PHONE_NUMBERS = 1000
#: Receipt timestamps are Beijing time, "YYYY-MM-DD HH:MM:SS".
BEIJING = datetime.timezone(datetime.timedelta(hours=8))
RECEIPT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclasses.dataclass(frozen=True)
class Failure:
    """A scripted answer. `delay` holds the answer back (the message is still taken, as when a real
    answer is lost); `body` replaces the JSON answer; `code` empty with status 200 means "answer OK"."""

    code: str = ""
    message: str = ""
    status: int = 200
    delay: float = 0.0
    body: bytes | None = None


BUSINESS_LIMIT_CONTROL = Failure("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
MOBILE_NUMBER_ILLEGAL = Failure("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
TEMPLATE_MISSING_PARAMETERS = Failure("isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量")
SMS_SIGNATURE_ILLEGAL = Failure("isv.SMS_SIGNATURE_ILLEGAL", "签名不合法")
INVALID_JSON_PARAM = Failure("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
OUT_OF_SERVICE = Failure("isv.OUT_OF_SERVICE", "业务停机")
SYSTEM_ERROR = Failure("isp.SYSTEM_ERROR", "系统错误")
SERVICE_UNAVAILABLE = Failure("ServiceUnavailable", "The request has failed due to a temporary failure of the server.", status=503)
HTTP_500 = Failure(status=500, body=b"<html><body>500 Internal Server Error</body></html>")


def slow(seconds: float) -> Failure:
    """Answer OK, but only after `seconds` (or when the fake is released)."""
    return Failure(delay=seconds)


@dataclasses.dataclass(frozen=True)
class AcceptedSms:
    """One SendSms call the fake took."""

    phone_numbers: tuple[str, ...]
    sign_name: str
    template_code: str
    template_param: Mapping[str, str]
    out_id: str
    biz_id: str
    request_id: str
    send_time: datetime.datetime


@dataclasses.dataclass(frozen=True)
class SeenRequest:
    """Every request that reached the fake, accepted or not, with the client's address and port."""

    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    peer: tuple[Any, ...] | None
    status: int
    code: str


class FakeAliyunSms:
    """The SendSms endpoint at `/` of `self.app`."""

    def __init__(
        self,
        credentials: Mapping[str, str] | None = None,
        *,
        sign_names: Iterable[str] | None = None,
        templates: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """`credentials`: AccessKeyId → secret. `sign_names` / `templates` (code → variable names):
        when given, only these are "approved", as on a real account."""
        self.credentials = dict(credentials or {KEY_ID: KEY_SECRET})
        self.sign_names = None if sign_names is None else set(sign_names)
        self.templates = None if templates is None else {code: set(names) for code, names in templates.items()}
        self.accepted: list[AcceptedSms] = []
        self.requests: list[SeenRequest] = []
        self._queue: collections.deque[Failure] = collections.deque()
        self._by_phone: dict[str, Failure] = {}
        self._all: Failure | None = None
        self._nonces: set[str] = set()
        self._biz_ids = itertools.count(900619746936498440)
        self._released = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_route("*", "/", self._handle)

    def fail_next(self, *failures: Failure) -> None:
        """Answer the next requests with these, in order (after the signature check)."""
        self._queue.extend(failures)

    def fail_for(self, phone: str, failure: Failure | None) -> None:
        """Answer every request for `phone` (as sent: no +86) with `failure`; None clears it."""
        if failure is None:
            self._by_phone.pop(phone, None)
        else:
            self._by_phone[phone] = failure

    def fail_all(self, failure: Failure | None) -> None:
        """Answer every request with `failure` (after the signature check) until called with None."""
        self._all = failure

    def release(self) -> None:
        """Let delayed answers go out now."""
        self._released.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        query: dict[str, str] = {}
        for name, value in request.query.items():
            if name in query:
                return self._answer(request, {}, 400, "InvalidParameter", f"{name} is given more than once")
            query[name] = value
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        try:
            aliyun_signing.verify(request.method, request.path, query, headers, body, self.credentials)
        except aliyun_signing.VerificationError as exc:
            return self._answer(request, query, exc.status, exc.code, exc.message)
        nonce = headers["x-acs-signature-nonce"]
        if nonce in self._nonces:
            message = "Specified signature nonce was used already."
            return self._answer(request, query, 400, "SignatureNonceUsed", message)
        self._nonces.add(nonce)
        if headers["x-acs-action"] != ACTION or headers["x-acs-version"] != VERSION:
            message = "Specified api is not found, please check your url and method."
            return self._answer(request, query, 404, "InvalidAction.NotFound", message)
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not query.get(name):
                return self._answer(request, query, 400, f"Missing{name}", f"{name} is mandatory for this action.")
        phones = tuple(query["PhoneNumbers"].split(","))
        failure = (
            self._queue.popleft()
            if self._queue
            else next((self._by_phone[phone] for phone in phones if phone in self._by_phone), self._all)
        )
        if failure is not None and failure.delay:
            try:
                await asyncio.wait_for(self._released.wait(), failure.delay)
            except TimeoutError:
                pass
        if failure is not None and failure.body is not None:
            self._record(request, query, failure.status, "")
            return web.Response(status=failure.status, body=failure.body, content_type="text/html")
        if failure is not None and (failure.code or failure.status != 200):
            return self._answer(request, query, failure.status, failure.code, failure.message)
        problem = self._validate(query, phones)
        if problem is not None:
            return self._answer(request, query, 200, problem.code, problem.message)
        return self._accept(request, query, phones)

    def _validate(self, query: Mapping[str, str], phones: tuple[str, ...]) -> Failure | None:
        if len(phones) > MAX_PHONE_NUMBERS or not all(MAINLAND_MOBILE.match(phone) for phone in phones):
            return MOBILE_NUMBER_ILLEGAL
        if self.sign_names is not None and query["SignName"] not in self.sign_names:
            return SMS_SIGNATURE_ILLEGAL
        if self.templates is not None and query["TemplateCode"] not in self.templates:
            return Failure("isv.SMS_TEMPLATE_ILLEGAL", "模板不合法")
        try:
            params = json.loads(query.get("TemplateParam", "{}"))
        except ValueError:
            return INVALID_JSON_PARAM
        if not isinstance(params, dict) or not all(isinstance(value, str) for value in params.values()):
            return INVALID_JSON_PARAM
        if self.templates is not None and not self.templates[query["TemplateCode"]] <= params.keys():
            return TEMPLATE_MISSING_PARAMETERS
        return None

    def _accept(self, request: web.Request, query: Mapping[str, str], phones: tuple[str, ...]) -> web.Response:
        request_id = str(uuid.uuid4()).upper()
        sms = AcceptedSms(
            phone_numbers=phones,
            sign_name=query["SignName"],
            template_code=query["TemplateCode"],
            template_param=json.loads(query.get("TemplateParam", "{}")),
            out_id=query.get("OutId", ""),
            biz_id=f"{next(self._biz_ids)}^0",
            request_id=request_id,
            send_time=datetime.datetime.now(BEIJING),
        )
        self.accepted.append(sms)
        self._record(request, query, 200, "OK")
        return web.json_response({"Code": "OK", "Message": "OK", "BizId": sms.biz_id, "RequestId": request_id})

    def _record(self, request: web.Request, query: Mapping[str, str], status: int, code: str) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen = SeenRequest(request.method, dict(query), dict(request.headers), peer, status, code)
        self.requests.append(seen)

    def _answer(
        self, request: web.Request, query: Mapping[str, str], status: int, code: str, message: str
    ) -> web.Response:
        self._record(request, query, status, code)
        payload = {"Code": code, "Message": message, "RequestId": str(uuid.uuid4()).upper()}
        if status != 200:
            payload["HostId"] = request.host
        return web.json_response(payload, status=status)


def receipt(
    phone_number: str,
    biz_id: str,
    out_id: str = "",
    *,
    success: bool = True,
    err_code: str = "DELIVERED",
    err_msg: str = "用户接收成功",
    sms_size: int = 1,
    send_time: datetime.datetime | None = None,
    report_time: datetime.datetime | None = None,
) -> dict[str, Any]:
    """One SmsReport item as Aliyun pushes it (times in Beijing time, sms_size as a string)."""
    send_time = send_time or datetime.datetime.now(BEIJING)
    report_time = report_time or send_time + datetime.timedelta(seconds=3)
    return {
        "phone_number": phone_number,
        "send_time": send_time.astimezone(BEIJING).strftime(RECEIPT_TIME_FORMAT),
        "report_time": report_time.astimezone(BEIJING).strftime(RECEIPT_TIME_FORMAT),
        "success": success,
        "err_code": err_code,
        "err_msg": err_msg,
        "sms_size": str(sms_size),
        "biz_id": biz_id,
        "out_id": out_id,
    }


def sms_report(accepted: AcceptedSms, **outcome: Any) -> list[dict[str, Any]]:
    """Receipts for every number of an accepted call; `outcome` as for `receipt` (e.g. success=False,
    err_code="MK:0001", err_msg="用户拒收")."""
    outcome.setdefault("send_time", accepted.send_time)
    return [receipt(phone, accepted.biz_id, accepted.out_id, **outcome) for phone in accepted.phone_numbers]


async def post_sms_report(
    url: str, receipts: list[dict[str, Any]], *, session: aiohttp.ClientSession | None = None
) -> tuple[int, Any]:
    """POST a receipt batch the way Aliyun does (JSON array, UTF-8); return (status, decoded answer).

    The service must answer 200 with a numeric `code` (e.g. {"code": 0, "msg": "接收成功"}); anything
    else makes Aliyun push again after 1, 5 and 10 minutes. Receipts are not idempotent: the same
    one may arrive twice.
    """
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        body = json.dumps(receipts, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        async with session.post(url, data=body, headers=headers) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text
    finally:
        if own:
            await session.close()
