"""The wire form `render` writes reads back as the message the stdlib builds (`build_message`), in any mail
reader: the same headers, the same parts, the same words."""

from __future__ import annotations

import datetime
import email
import email.policy

import fast_mail_parser
import pytest

from connectors import mime
from engine.notices import channels

FROM = "notices@push.example.cn"
FROM_NAME = "青海省中小企业服务中心"
NOW = datetime.datetime(2022, 6, 6, 9, 0, tzinfo=datetime.UTC)


def _notice(**overrides) -> channels.EmailMessage:
    fields = {
        "notice_id": "ntc_mime", "to": "caiwu@firm.example.cn",
        "subject": "【免申即享】贵企业可享受小微企业房租减免，无需申请",
        "text": "尊敬的企业负责人：\n贵企业符合大同市小微企业房租减免条件，减免将自动发放。\n",
        "html": "<p>尊敬的企业负责人：</p><p>贵企业符合<b>大同市小微企业房租减免</b>条件。</p>",
        "headers": {"List-Unsubscribe": "<https://push.example.cn/u/ntc_mime>, <mailto:unsub@example.cn?subject=ntc_mime>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "X-Notice-Id": "ntc_mime"},
        "message_id": "ntc_mime@push.example.cn",
    }
    return channels.EmailMessage(**{**fields, **overrides})


MESSAGES = {
    "a typical notice": _notice(),
    "a subject of many encoded words": _notice(subject="【政策直达】" + "云南滇池示例国际供应链管理集团昆明经济技术开发区分公司" * 4 + "：已为您办理3项惠企政策"),
    "an ASCII subject": _notice(subject="Policy notice 2022"),
    "an ASCII subject that looks encoded": _notice(subject="=?utf-8?b?5pS/?= is text"),
    "a long ASCII subject": _notice(subject="Policy notice " * 10),
    "characters beyond the BMP": _notice(subject="通知😀" * 20, text="𠀀𠀁正文😀\n" * 30),
    "bodies without a last line end": _notice(text="正文", html="<p>正文</p>"),
    "bodies with CRLF and CR": _notice(text="第一行\r\n第二行\r第三行\n", html="<p>a</p>\r\n<p>b</p>"),
    "empty bodies": _notice(text="", html=""),
    "a long body": _notice(text="贵企业符合大同市小微企业房租减免条件。" * 500 + "\n"),
    "a recipient with a name": _notice(to="财务部 <caiwu@firm.example.cn>"),
    "no extra headers": _notice(headers={}),
    "a dotted recipient with a tag": _notice(to="zhang.san+notice@mail.firm-1.example.cn"),
}


def _read(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.mark.parametrize("message", MESSAGES.values(), ids=MESSAGES.keys())
def test_the_wire_form_reads_as_the_stdlib_message(message):
    recipient, raw = mime.render(message, from_address=FROM, from_name=FROM_NAME, now=NOW)
    built = mime.build_message(message, from_address=FROM, from_name=FROM_NAME, now=NOW)
    assert recipient == mime.envelope_recipient(built)

    wire, stdlib = _read(raw), _read(built.as_bytes(policy=mime.POLICY))
    # (The Subject is checked against the notice below: the stdlib sends an ASCII subject that looks like an
    # encoded word as it is, and a reader then decodes it into something else.)
    assert [(k, str(v)) for k, v in wire.items() if k not in ("Content-Type", "Subject")] == \
        [(k, str(v)) for k, v in stdlib.items() if k not in ("Content-Type", "Subject")]
    assert wire.get_content_type() == "multipart/alternative"
    # (The transfer encoding may differ: the stdlib picks quoted-printable for some bodies, the wire form base64.)
    assert [(p.get_content_type(), p.get_content_charset(), p.get_content()) for p in wire.iter_parts()] == \
        [(p.get_content_type(), p.get_content_charset(), p.get_content()) for p in stdlib.iter_parts()]
    assert wire["Subject"] == message.subject
    assert [part.get_content().replace("\r\n", "\n").rstrip("\n") for part in wire.iter_parts()] == \
        [message.text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n"), message.html.replace("\r\n", "\n").rstrip("\n")]
    # A second, independent reader agrees on the words.
    parsed = fast_mail_parser.parse_email(raw)
    assert parsed.subject == message.subject
    assert parsed.text_plain[0].replace("\r\n", "\n").rstrip("\n") == message.text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


@pytest.mark.parametrize("message", MESSAGES.values(), ids=MESSAGES.keys())
def test_the_wire_form_is_ascii_in_short_crlf_lines(message):
    _, raw = mime.render(message, from_address=FROM, from_name=FROM_NAME, now=NOW)
    assert raw.isascii() and raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert all(len(line) <= mime.FOLD_AT for line in head.split(b"\r\n")), head
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))


@pytest.mark.parametrize("overrides", [
    {"to": "a@b.cn\r\nBcc: everyone@example.cn"},
    {"to": "收件人@例子.中国"},
    {"to": "a@b.cn, c@d.cn"},
    {"to": "a@b.cn."},
    {"to": "nobody"},
    {"subject": "免申即享\r\nBcc: everyone@example.cn"},
    {"headers": {"X-Notice-Id": "ntc_1\r\nBcc: everyone@example.cn"}},
    {"headers": {"Subject": "二次覆盖"}},
    {"message_id": "<has brackets@x>"},
])
def test_what_the_stdlib_refuses_the_wire_form_refuses(overrides):
    message = _notice(**overrides)
    with pytest.raises(ValueError):
        mime.build_message(message, from_address=FROM, from_name=FROM_NAME, now=NOW)
        mime.envelope_recipient(mime.build_message(message, from_address=FROM, from_name=FROM_NAME, now=NOW))
    with pytest.raises(ValueError):
        mime.render(message, from_address=FROM, from_name=FROM_NAME, now=NOW)
