"""SMS through Aliyun dysmsapi `SendSms` (version 2017-05-25), signed with OpenAPI signature V3.

Parameter placement follows the official SDK (alibabacloud_dysmsapi20170525 `send_sms_with_options`:
style RPC, method POST, pathname `/`, every SendSms parameter in `query`): the parameters travel in the
query string and the body is empty, so x-acs-content-sha256 is the SHA-256 of b"".

SendSms is not idempotent: an answer we never read (a timeout) may still mean the message went out.
Such attempts are reported as RETRY, as the channel contract asks, with a reason that says so.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import aiohttp
import yarl

from connectors import aliyun_signing
from engine import settings
from engine.core import china_time
from engine.notices import channels

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://dysmsapi.aliyuncs.com"
ACTION = "SendSms"
VERSION = "2017-05-25"

#: SendSms usually answers in well under a second; 10 s bounds a stuck connection with room for a slow TLS handshake.
DEFAULT_TIMEOUT_SECONDS = 10.0


ENDPOINT_VAR = "POLICY_PUSH_ALIYUN_SMS_ENDPOINT"
ACCESS_KEY_ID_VAR = "POLICY_PUSH_ALIYUN_SMS_ACCESS_KEY_ID"
ACCESS_KEY_SECRET_VAR = "POLICY_PUSH_ALIYUN_SMS_ACCESS_KEY_SECRET"
SIGN_NAME_VAR = "POLICY_PUSH_ALIYUN_SMS_SIGN_NAME"
TIMEOUT_VAR = "POLICY_PUSH_ALIYUN_SMS_TIMEOUT"
#: The names Aliyun's own SDKs and CLI read, accepted when ours are unset.
ALIYUN_KEY_ID_VAR = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ALIYUN_KEY_SECRET_VAR = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"

#: Flow control: the provider asks us to wait, the notice is not at fault.
DEFERRED_CODES = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL"})
#: Provider-side faults where the message was not taken: safe to try again.
RETRY_CODES = frozenset({"isp.SYSTEM_ERROR", "InternalError", "ServiceUnavailable"})

#: BUSINESS_LIMIT_CONTROL messages name the window that tripped (e.g. "触发分钟级流控Permits:1").
_LIMIT_WINDOWS = (("分钟级", 60.0), ("小时级", 3600.0))
#: Daily limits reset at midnight Beijing time (UTC+8, no daylight saving).


def _endpoint(raw: str, label: str) -> str:
    url = yarl.URL(raw.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise settings.SettingsError(f"{label}: {raw!r} is not an http(s) URL")
    if url.path not in ("", "/") or url.query_string or url.fragment:
        raise settings.SettingsError(f"{label}: {raw!r} must be the bare endpoint (RPC APIs are called at /)")
    return str(url.with_path("/"))


def _timeout(raw: str | float, label: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise settings.SettingsError(f"{label}: {raw!r} is not a number of seconds") from None
    if not value > 0 or math.isinf(value):
        raise settings.SettingsError(f"{label}: must be a positive number of seconds, got {raw!r}")
    return value


@dataclasses.dataclass(frozen=True)
class AliyunSmsSettings:
    """Where and as whom to call SendSms. `sign_name` is used for messages that carry none."""

    access_key_id: str
    access_key_secret: str = dataclasses.field(repr=False)
    endpoint: str = DEFAULT_ENDPOINT
    sign_name: str = ""
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if not self.access_key_id or not self.access_key_secret:
            raise settings.SettingsError("access_key_id and access_key_secret are required")
        object.__setattr__(self, "endpoint", _endpoint(self.endpoint, "endpoint"))
        object.__setattr__(self, "timeout", _timeout(self.timeout, "timeout"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AliyunSmsSettings:
        """Read `POLICY_PUSH_ALIYUN_SMS_*` (keys may come from `ALIBABA_CLOUD_ACCESS_KEY_*`);
        raise SettingsError naming the variable that is missing or malformed."""
        env = os.environ if environ is None else environ
        key_id = env.get(ACCESS_KEY_ID_VAR) or env.get(ALIYUN_KEY_ID_VAR, "")
        secret = env.get(ACCESS_KEY_SECRET_VAR) or env.get(ALIYUN_KEY_SECRET_VAR, "")
        for value, name, fallback in (
            (key_id, ACCESS_KEY_ID_VAR, ALIYUN_KEY_ID_VAR),
            (secret, ACCESS_KEY_SECRET_VAR, ALIYUN_KEY_SECRET_VAR),
        ):
            if not value.strip():
                raise settings.SettingsError(f"{name}: required to send SMS through Aliyun (or set {fallback})")
        return cls(
            access_key_id=key_id.strip(),
            access_key_secret=secret.strip(),
            endpoint=_endpoint(env.get(ENDPOINT_VAR) or DEFAULT_ENDPOINT, ENDPOINT_VAR),
            sign_name=env.get(SIGN_NAME_VAR, "").strip(),
            timeout=_timeout(env.get(TIMEOUT_VAR) or DEFAULT_TIMEOUT_SECONDS, TIMEOUT_VAR),
        )


def aliyun_phone(phone: str) -> str:
    """Aliyun's number format: mainland numbers without +86, others as country code + number (no +)."""
    phone = phone.strip().replace(" ", "")
    if phone.startswith("+86"):
        return phone[3:]
    return phone.removeprefix("+")


def sendsms_parameters(message: channels.SmsMessage, default_sign_name: str = "") -> dict[str, str]:
    """The SendSms query parameters for a notice; empty optional ones are left out."""
    parameters = {
        "PhoneNumbers": aliyun_phone(message.phone),
        "SignName": message.sign_name or default_sign_name,
        "TemplateCode": message.template_code,
        # The provider echoes OutId in delivery receipts; the notice id is the natural key when none is set.
        "OutId": message.out_id or message.notice_id,
    }
    if message.params:
        # Aliyun accepts only string values; keep Chinese readable (UTF-8 is percent-encoded on the wire).
        template_param = {str(name): str(value) for name, value in message.params.items()}
        parameters["TemplateParam"] = json.dumps(template_param, ensure_ascii=False, separators=(",", ":"))
    return {name: value for name, value in parameters.items() if value}


def _limit_wait(code: str, message: str) -> float | None:
    for marker, seconds in _LIMIT_WINDOWS:
        if marker in message:
            return seconds
    if code == "isv.DAY_LIMIT_CONTROL" or "天级" in message:
        now = datetime.datetime.now(china_time.CHINA_TZ)
        midnight = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(), china_time.CHINA_TZ)
        return (midnight - now).total_seconds()
    return None


def _retry_after_header(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:  # an HTTP date: rare from this API, and a plain back-off does as well
        return None


def interpret(status: int, raw: bytes, retry_after: str | None = None) -> channels.SendResult:
    """Map one SendSms HTTP answer to a SendResult (pure, so the table is testable on its own)."""
    try:
        payload: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        payload = None
    code = str(payload.get("Code", "")) if payload else ""
    text = str(payload.get("Message", "")) if payload else ""
    detail = f"{code}: {text}" if code else ("answer has no Code" if payload else "answer is not JSON")
    wait = _retry_after_header(retry_after)
    if status >= 500:
        reason = f"HTTP {status}, {detail}"
        return channels.SendResult(channels.Outcome.RETRY, response=payload, reason=reason, retry_after=wait)
    if status == 429 or code in DEFERRED_CODES or code.startswith("Throttling"):
        wait = wait if wait is not None else _limit_wait(code, text)
        return channels.SendResult(channels.Outcome.DEFERRED, response=payload, reason=detail, retry_after=wait)
    if 200 <= status < 300 and code == "OK":
        return channels.SendResult(channels.Outcome.SENT, provider_id=payload.get("BizId") or None, response=payload)
    if code in RETRY_CODES or (not code and (200 <= status < 300 or status == 408)):
        return channels.SendResult(channels.Outcome.RETRY, response=payload, reason=detail, retry_after=wait)
    # isv.* (number, template, signature, parameters, account), credential and signature errors,
    # and anything unknown: trying the same request again cannot succeed, and must not double-send.
    reason = f"HTTP {status}, {detail}" if status >= 300 else detail
    return channels.SendResult(channels.Outcome.DEAD, response=payload, reason=reason)


class AliyunSmsSender:
    """channels.SmsSender over Aliyun SendSms; one aiohttp session (and its connection pool) per open()."""

    def __init__(self, config: AliyunSmsSettings) -> None:
        self._config = config
        self._host = yarl.URL(config.endpoint).host_port_subcomponent
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Start the HTTP session that every send reuses."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._config.timeout))

    async def close(self) -> None:
        """Close the session and its connections; safe to call twice."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, message: channels.SmsMessage) -> channels.SendResult:
        """Send one notice; never raises for provider or network trouble — the outcome says it."""
        if self._session is None:
            raise RuntimeError("AliyunSmsSender.send() before open()")
        query = sendsms_parameters(message, self._config.sign_name)
        headers = {"x-acs-action": ACTION, "x-acs-version": VERSION}
        key_id, secret = self._config.access_key_id, self._config.access_key_secret
        headers.update(aliyun_signing.sign("POST", self._host, "/", query, headers, b"", key_id, secret))
        # The wire query is the canonical one, so the provider decodes exactly what was signed.
        url = yarl.URL(f"{self._config.endpoint}?{aliyun_signing.canonical_query_string(query)}", encoded=True)
        try:
            # No body, so no Content-Type: aiohttp would add an unsigned application/octet-stream.
            async with self._session.post(url, headers=headers, skip_auto_headers=("Content-Type",)) as response:
                raw = await response.read()
                result = interpret(response.status, raw, response.headers.get("Retry-After"))
        except TimeoutError:
            reason = f"no answer within {self._config.timeout:g}s; the provider may have accepted the message"
            result = channels.SendResult(channels.Outcome.RETRY, reason=reason, ambiguous=True)
        except aiohttp.ClientConnectorError as exc:
            result = channels.SendResult(channels.Outcome.RETRY, reason=f"cannot connect to {self._host}: {exc}")
        except aiohttp.ClientError as exc:
            reason = f"{type(exc).__name__}: {exc}; the provider may have accepted the message"
            result = channels.SendResult(channels.Outcome.RETRY, reason=reason, ambiguous=True)
        log.debug("sms %s: %s %s", message.notice_id, result.outcome.value, result.provider_id or result.reason or "")
        return result
