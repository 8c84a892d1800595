"""Why a notice is where it is, in Chinese: the glossary for the `reason` kept on notices and their attempts.

The notices keep their reasons in English (they are also log lines, written by engine.notices and
the channel connectors); operators read them here, on every console page that shows one, through
`chinese(reason)` (the template filter `reason`). Each rule is keyed by the English text it
translates: an exact string, or a pattern whose named parts are carried over (a date, a count, the
provider's own words, which are shown as the provider wrote them). tests/console/test_reasons.py
checks that every reason engine/notices can write is matched by a rule here.

A reason no rule knows is shown as it is, never hidden (a new reason should be added here).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Mapping

from engine.core.china_time import CHINA_TZ

_CHANNEL = {"sms": "短信", "email": "电子邮件"}

#: Reasons written word for word.
EXACT: Mapping[str, str] = {
    "the benefit no longer applies to the firm": "该企业的最新判定已不再符合此项政策，通知不再发送",
    "no mobile number on file": "档案中没有手机号码，等待企业补充联系方式",
    "no email address on file": "档案中没有电子邮箱，等待企业补充联系方式",
    "the firm has not consented to sms notices": "企业尚未同意接收短信通知，等待其授权",
    "the firm has not consented to email notices": "企业尚未同意接收电子邮件通知，等待其授权",
    "the firm chose SMS for automatic grants only (its page); this benefit is not one":
        "企业在“我的政策”页面选择只接收免申即享的短信，此项政策不属免申即享，不发短信",
    "the address and consent for the channel arrived": "联系方式和授权已到达，通知进入发送队列",
    "the address and consent arrived long after the benefit's window closed; an operator may release it":
        "联系方式和授权在政策期限结束很久之后才到达，通知已暂缓，可由操作员放行",
    "interrupted while sending; not re-sent to avoid a duplicate SMS (a receipt will settle it)":
        "发送过程中断；为避免重复短信不再重发（以服务商回执为准）",
    "interrupted while sending; will be sent again with the same Message-ID": "发送过程中断；将以相同的 Message-ID 重新发送",
    "worker stopping": "发送进程停止，通知已放回队列",
    "the benefit's window closed long before the notice could be sent; an operator may release it":
        "政策期限结束很久之后通知才到发送时间，通知已暂缓，可由操作员放行",
    "SMS quiet hours": "短信免打扰时段，推迟到可发送时再发",
    "answer has no Code": "服务商的回复中没有状态码",
    "answer is not JSON": "服务商的回复无法解析（不是 JSON）",
}


@dataclasses.dataclass(frozen=True)
class Rule:
    """A reason with variable parts: `pattern` (anchored) and how to say it from its named groups."""

    name: str
    pattern: re.Pattern[str]
    say: Callable[[Mapping[str, str]], str]


def _when(text: str) -> str:
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _channel(code: str) -> str:
    return _CHANNEL.get(code, code)


RULES: tuple[Rule, ...] = (
    Rule("opted_out", re.compile(r"the firm opted out of (?P<channel>\w+) on (?P<at>\S+)"),
         lambda g: f"企业已于 {_when(g['at'])}（北京时间）退订{_channel(g['channel'])}通知"),
    Rule("operator", re.compile(r"(?P<outcome>requeued|released) by (?P<operator>.+)"),
         lambda g: f"由 {g['operator']} {'重新发送' if g['outcome'] == 'requeued' else '放行'}"),
    Rule("timeout", re.compile(r"no answer from the provider within (?P<seconds>[\d.]+) s"),
         lambda g: f"服务商 {g['seconds']} 秒内未应答"),
    Rule("gave_up", re.compile(r"gave up after (?P<n>\d+) attempts: (?P<inner>.*)", re.S),
         lambda g: f"尝试 {g['n']} 次后放弃：{chinese(g['inner'])}"),
    Rule("no_duplicate", re.compile(r"(?P<inner>.*); not re-sent to avoid a duplicate SMS", re.S),
         lambda g: f"{chinese(g['inner'])}；为避免重复短信不再重发"),
    Rule("sms_param", re.compile(r"(?P<code>\S+) (?P<param>\w+)=(?P<value>.*): (?P<n>\d+) characters, the provider accepts 1–(?P<max>\d+)", re.S),
         lambda g: f"无法生成短信：模板 {g['code']} 的参数 {g['param']}={g['value']} 有 {g['n']} 个字符，服务商只接受 1–{g['max']} 个"),
    # The channel connectors' own reasons (connectors/sms.py, connectors/email.py), the provider's words kept.
    Rule("http", re.compile(r"HTTP (?P<status>\d{3}), (?P<inner>.*)", re.S),
         lambda g: f"服务商返回 HTTP {g['status']}：{chinese(g['inner'])}"),
    Rule("connect", re.compile(r"cannot connect to (?P<host>\S+): (?P<detail>.*)", re.S),
         lambda g: f"无法连接服务商 {g['host']}：{g['detail']}"),
    Rule("smtp", re.compile(r"(?P<what>timeout|connection failed|refused|temporary failure|session refused|session failed|invalid message): "
                            r"(?P<detail>.*)", re.S),
         lambda g: f"{_SMTP[g['what']]}：{g['detail']}"),
    Rule("scripted", re.compile(r"scripted (?P<outcome>\w+)"), lambda g: f"测试通道按脚本返回 {g['outcome']}"),
    Rule("sms_timeout", re.compile(r"no answer within (?P<seconds>[\d.]+)s; the provider may have accepted the message"),
         lambda g: f"服务商 {g['seconds']} 秒内未应答；短信可能已被受理"),
    Rule("maybe_accepted", re.compile(r"(?P<inner>.*); the provider may have accepted the message", re.S),
         lambda g: f"{chinese(g['inner'])}；短信可能已被受理"),
    # A provider's status code and message (an SMS receipt, an Aliyun answer): "UNDELIV: 用户停机"; a
    # receipt may lack either ("None").
    Rule("provider_code", re.compile(r"(?P<code>[A-Za-z][\w.]*|None): (?P<message>.*)", re.S), lambda g: _provider(g["code"], g["message"])),
)


def _provider(code: str, message: str) -> str:
    said = "：".join(part for part in (code, message) if part != "None")
    return f"服务商返回 {said}" if said else "服务商未说明原因"

_SMTP = {
    "timeout": "连接邮件服务器超时", "connection failed": "连接邮件服务器失败", "refused": "邮件服务器拒收",
    "temporary failure": "邮件服务器暂时无法投递", "session refused": "邮件服务器拒绝会话", "session failed": "邮件会话失败",
    "invalid message": "邮件内容无效",
}


def rule_for(reason: str) -> str | None:
    """The name of the rule that says `reason` in Chinese ("exact" for a word-for-word one), or None."""
    if reason in EXACT:
        return "exact"
    return next((rule.name for rule in RULES if rule.pattern.fullmatch(reason)), None)


def chinese(reason: object) -> str:
    """`reason` as operators read it (Chinese); an unknown reason as it is, "" for none."""
    if reason is None or reason == "":
        return ""
    text = str(reason)
    if text in EXACT:
        return EXACT[text]
    for rule in RULES:
        found = rule.pattern.fullmatch(text)
        if found:
            return rule.say(found.groupdict())
    return text
