"""SmtpSender against a real aiosmtpd server: MIME on the wire, session reuse, TLS, AUTH, outcomes."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import ssl

import fast_mail_parser
import pytest

from connectors import email as smtp
from engine.notices import channels
from tests.channels import conftest as fixtures

FROM = "notices@push.example.cn"
FROM_NAME = "山西省中小企业服务中心"


def settings_for(server, **overrides) -> smtp.SmtpSettings:
    options = {"host": "127.0.0.1", "port": server.port, "security": "none", "from_address": FROM,
               "from_name": FROM_NAME, "local_hostname": "worker.test", "timeout": 5.0}
    options.update(overrides)
    return smtp.SmtpSettings(**options)


@pytest.fixture
async def open_sender():
    """Make SmtpSenders that are closed after the test."""
    senders: list[smtp.SmtpSender] = []

    async def make(settings: smtp.SmtpSettings) -> smtp.SmtpSender:
        sender = smtp.SmtpSender(settings)
        await sender.open()
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        await sender.close()


# --- settings ------------------------------------------------------------------------------------


def test_url_with_starttls_credentials_and_chinese_sender_name():
    settings = smtp.SmtpSettings.from_url(
        "smtp+starttls://bot%40push.example.cn:p%40ss%3Aw0rd@smtp.example.cn"
        "?from=bot@push.example.cn&from_name=%E6%94%BF%E7%AD%96%E6%8E%A8%E9%80%81&timeout=7.5&max_messages=20")
    assert (settings.host, settings.port, settings.security) == ("smtp.example.cn", 587, "starttls")
    assert (settings.username, settings.password) == ("bot@push.example.cn", "p@ss:w0rd")
    assert settings.from_name == "政策推送"
    assert (settings.timeout, settings.max_messages_per_connection) == (7.5, 20)
    assert "p@ss" not in repr(settings)


@pytest.mark.parametrize(("url", "security", "port"), [
    ("smtp://relay.local?from=a@b.cn", "none", 25),
    ("smtps://smtp.example.cn?from=a@b.cn", "tls", 465),
    ("smtps://smtp.example.cn:2465?from=a@b.cn", "tls", 2465),
])
def test_url_schemes_choose_security_and_default_port(url, security, port):
    settings = smtp.SmtpSettings.from_url(url)
    assert (settings.security, settings.port, settings.username) == (security, port, None)


@pytest.mark.parametrize(("url", "complaint"), [
    ("http://smtp.example.cn?from=a@b.cn", "scheme"),
    ("smtp+starttls://smtp.example.cn", "from="),
    ("smtp://smtp.example.cn?from=a@b.cn&form_name=x", "unknown option(s) form_name"),
    ("smtp://smtp.example.cn:99999?from=a@b.cn", "port"),
    ("smtp://user@smtp.example.cn?from=a@b.cn", "no password"),
    ("smtp://smtp.example.cn?from=a@b.cn&timeout=soon", "timeout='soon'"),
    ("smtp://smtp.example.cn?from=not-an-address", "from address"),
    ("smtp://smtp.example.cn/inbox?from=a@b.cn", "no path"),
    ("smtp://?from=a@b.cn", "no host"),
    ("smtp://smtp.example.cn?from=a@b.cn&from=c@d.cn", "repeats option(s) from"),
])
def test_url_errors_name_the_problem(url, complaint):
    with pytest.raises(ValueError) as caught:
        smtp.SmtpSettings.from_url(url)
    assert complaint in str(caught.value)


@pytest.mark.parametrize(("overrides", "complaint"), [
    ({"security": "ssl"}, "security must be one of none, starttls, tls"),
    ({"username": "bot"}, "username and password go together"),
    ({"from_address": "政策@push.example.cn"}, "bare ASCII address"),
    ({"from_address": "政策推送 <bot@push.example.cn>"}, "bare ASCII address"),
    ({"max_messages_per_connection": 0}, "at least 1"),
    ({"timeout": 0}, "positive"),
])
def test_settings_refuse_what_cannot_work(overrides, complaint):
    with pytest.raises(ValueError, match=complaint):
        smtp.SmtpSettings(**{"host": "smtp.example.cn", "from_address": "bot@push.example.cn", **overrides})


# --- the message on the wire ---------------------------------------------------------------------


async def test_delivered_message_is_utf8_alternative_with_encoded_chinese_headers(smtp_server, open_sender, make_email):
    server = await smtp_server()
    sender = await open_sender(settings_for(server))
    notice = make_email(notice_id="ntc_42")

    result = await sender.send(notice)

    assert result.outcome is channels.Outcome.SENT
    assert result.provider_id == "ntc_42@push.example.cn"
    assert result.response == "250 2.0.0 Ok: queued as Q1"
    [delivery] = server.deliveries
    assert (delivery.mail_from, delivery.rcpt_tos) == (FROM, ["caiwu@firm.example.cn"])
    raw = delivery.content
    assert raw.isascii()  # Chinese travels only as encoded-words and base64
    headers = b"\r\n" + raw.partition(b"\r\n\r\n")[0]
    assert b"\r\nSubject: =?utf-8?b?" in headers and b"\r\nFrom: =?utf-8?b?" in headers

    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == notice.subject
    assert parsed["From"].addresses[0].display_name == FROM_NAME
    assert parsed["From"].addresses[0].addr_spec == FROM
    assert parsed["To"] == "caiwu@firm.example.cn"
    assert parsed["Message-ID"] == "<ntc_42@push.example.cn>"
    assert parsed["Date"].datetime is not None
    # Folded after the comma between the two URLs (RFC 2369); unfolded it is the value given.
    assert parsed["List-Unsubscribe"] == notice.headers["List-Unsubscribe"]
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["X-Notice-Id"] == "ntc_42"
    assert parsed.get_content_type() == "multipart/alternative"
    plain, html = parsed.iter_parts()
    assert (plain.get_content_type(), plain.get_content_charset()) == ("text/plain", "utf-8")
    assert (html.get_content_type(), html.get_content_charset()) == ("text/html", "utf-8")
    assert plain.get_content().replace("\r\n", "\n") == notice.text
    assert html.get_content().rstrip("\r\n") == notice.html
    assert "MIME-Version" not in html  # only the top level carries it


def test_extra_headers_stay_plain_ascii_and_fold_only_between_urls():
    # An unsubscribe URL longer than a 78-character line: it must stay whole and unencoded, since
    # clients read List-Unsubscribe literally (RFC 2369) and decode no RFC 2047 words there.
    https = f"https://push.example.cn/unsubscribe/{'WyI5MTE0MDMwMk1BMEs0WEJYMkUiLCJlbWFpbCJd' * 2}.sig-_0"
    mailto = "mailto:unsubscribe@push.example.cn?subject=ntc_9"
    value = f"<{https}>, <{mailto}>"
    notice = channels.EmailMessage(notice_id="ntc_9", to="caiwu@firm.example.cn", subject="免申即享", text="正文\n",
                                   html="<p>正文</p>\n", headers={"List-Unsubscribe": value,
                                                                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    _, raw = smtp.render(notice, from_address=FROM, from_name=FROM_NAME)
    head = raw.partition(b"\r\n\r\n")[0] + b"\r\n"
    assert f"\r\nList-Unsubscribe: <{https}>,\r\n <{mailto}>\r\n".encode() in head
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head
    assert email.message_from_bytes(raw, policy=email.policy.default)["List-Unsubscribe"] == value
    assert fast_mail_parser.parse_email(raw).headers["List-Unsubscribe"] == [value]


async def test_message_id_falls_back_to_one_derived_from_the_notice(smtp_server, open_sender, make_email):
    server = await smtp_server()
    sender = await open_sender(settings_for(server))
    result = await sender.send(make_email(notice_id="ntc_7", message_id=""))
    assert result.provider_id == "ntc_7@push.example.cn"
    parsed = email.message_from_bytes(server.deliveries[0].content, policy=email.policy.default)
    assert parsed["Message-ID"] == "<ntc_7@push.example.cn>"


@pytest.mark.parametrize("overrides", [
    {"headers": {"Subject": "二次覆盖"}},
    {"headers": {"X-Notice-Id": "ntc_1\r\nBcc: everyone@example.cn"}},
    {"to": "收件人@例子.中国"},
    {"to": "a@b.cn, c@d.cn"},
    {"to": "nobody"},
    {"to": '"two words"@firm.example.cn'},
    {"message_id": "<has brackets@x>"},
    {"notice_id": "", "message_id": ""},
    {"headers": {"X Notice": "1"}},
    {"headers": {"X-Notice-Id": "ntc_1\nBcc: everyone@example.cn"}},
    {"headers": {"List-Unsubscribe": "<https://政策.中国/unsubscribe/t>"}},
    {"headers": {"List-Unsubscribe": f"<https://push.example.cn/u/{'a' * 1000}>"}},
])
async def test_unbuildable_message_is_dead_without_touching_the_server(smtp_server, open_sender, make_email, overrides):
    server = await smtp_server()
    sender = await open_sender(settings_for(server))
    result = await sender.send(make_email(**overrides))
    assert result.outcome is channels.Outcome.DEAD
    assert result.reason.startswith("invalid message:")
    assert server.connections == 0


# --- one session, reused -------------------------------------------------------------------------


async def test_one_session_carries_many_messages(smtp_server, open_sender, make_email):
    server = await smtp_server()
    sender = await open_sender(settings_for(server))
    results = [await sender.send(make_email()) for _ in range(5)]
    assert [r.outcome for r in results] == [channels.Outcome.SENT] * 5
    assert len(server.deliveries) == 5
    assert server.connections == 1


async def test_concurrent_sends_share_the_session_one_transaction_at_a_time(smtp_server, open_sender, make_email):
    server = await smtp_server()
    sender = await open_sender(settings_for(server))
    notices = [make_email() for _ in range(8)]
    results = await asyncio.gather(*(sender.send(n) for n in notices))
    assert {r.outcome for r in results} == {channels.Outcome.SENT}
    delivered = [email.message_from_bytes(d.content, policy=email.policy.default)["X-Notice-Id"]
                 for d in server.deliveries]
    assert sorted(delivered) == sorted(n.notice_id for n in notices)
    assert server.connections == 1


async def test_session_is_renewed_after_max_messages(smtp_server, open_sender, make_email):
    server = await smtp_server()
    sender = await open_sender(settings_for(server, max_messages_per_connection=2))
    for _ in range(5):
        assert (await sender.send(make_email())).outcome is channels.Outcome.SENT
    assert len(server.deliveries) == 5
    assert server.connections == 3


async def test_session_dropped_by_the_server_while_idle_is_replaced(smtp_server, open_sender, make_email):
    server = await smtp_server()
    sender = await open_sender(settings_for(server))
    assert (await sender.send(make_email())).outcome is channels.Outcome.SENT
    await server.drop_connections()
    assert (await sender.send(make_email())).outcome is channels.Outcome.SENT
    assert len(server.deliveries) == 2
    assert server.connections == 2


async def test_421_at_mail_on_an_idle_session_reconnects(smtp_server, open_sender, make_email):
    server = await smtp_server()
    sender = await open_sender(settings_for(server))
    await sender.send(make_email())
    server.handler.mail_replies.append("421 4.4.2 mx.test idle timeout, closing")
    result = await sender.send(make_email())
    assert result.outcome is channels.Outcome.SENT
    assert len(server.deliveries) == 2
    assert server.connections == 2


async def test_close_ends_the_session(smtp_server, make_email):
    server = await smtp_server()
    sender = smtp.SmtpSender(settings_for(server))
    await sender.open()
    await sender.send(make_email())
    await sender.close()
    await sender.send(make_email())  # a closed sender may be used again: it reconnects
    await sender.close()
    assert server.connections == 2


# --- outcomes ------------------------------------------------------------------------------------


async def test_4xx_is_retry_and_the_session_stays_usable(smtp_server, open_sender, make_email):
    server = await smtp_server()
    sender = await open_sender(settings_for(server))
    server.handler.data_replies.append("451 4.3.0 Temporary local problem, try later")
    result = await sender.send(make_email())
    assert result.outcome is channels.Outcome.RETRY
    assert "451" in result.reason and "try later" in result.reason
    assert (await sender.send(make_email())).outcome is channels.Outcome.SENT
    assert server.connections == 1


@pytest.mark.parametrize("stage", ["rcpt_replies", "data_replies"])
async def test_5xx_is_dead_with_the_code_and_message(smtp_server, open_sender, make_email, stage):
    server = await smtp_server()
    sender = await open_sender(settings_for(server))
    getattr(server.handler, stage).append("550 5.1.1 Mailbox unavailable")
    result = await sender.send(make_email())
    assert result.outcome is channels.Outcome.DEAD
    assert "550 5.1.1 Mailbox unavailable" in result.reason
    assert server.deliveries == []
    assert (await sender.send(make_email())).outcome is channels.Outcome.SENT
    assert server.connections == 1


async def test_message_over_the_size_limit_is_dead(smtp_server, open_sender, make_email):
    server = await smtp_server(data_size_limit=1000)
    sender = await open_sender(settings_for(server))
    result = await sender.send(make_email(text="很长的正文。" * 200))
    assert result.outcome is channels.Outcome.DEAD
    assert "552" in result.reason
    assert server.handler.data_attempts == 0


async def test_no_server_is_retry(smtp_server, open_sender, make_email):
    server = await smtp_server()
    await server.stop()  # the port is now closed
    sender = await open_sender(settings_for(server))
    result = await sender.send(make_email())
    assert result.outcome is channels.Outcome.RETRY
    assert result.reason.startswith("connection failed")


async def test_server_gone_after_a_send_is_retry(smtp_server, open_sender, make_email):
    server = await smtp_server()
    sender = await open_sender(settings_for(server))
    assert (await sender.send(make_email())).outcome is channels.Outcome.SENT
    await server.stop()
    result = await sender.send(make_email())
    assert result.outcome is channels.Outcome.RETRY
    assert result.reason.startswith("connection failed")


async def test_a_silent_server_times_out_to_retry_and_is_not_resent_blindly(smtp_server, open_sender, make_email):
    server = await smtp_server()
    sender = await open_sender(settings_for(server, timeout=0.5))
    server.handler.data_replies.append("HANG")
    result = await sender.send(make_email())
    assert result.outcome is channels.Outcome.RETRY
    assert result.reason.startswith("timeout")
    assert server.handler.data_attempts == 1  # the sender left the retry to the worker
    assert (await sender.send(make_email())).outcome is channels.Outcome.SENT
    assert server.connections == 2


async def test_cancelled_send_drops_the_session(smtp_server, open_sender, make_email):
    server = await smtp_server()
    sender = await open_sender(settings_for(server))
    server.handler.data_replies.append("HANG")
    attempt = asyncio.ensure_future(sender.send(make_email()))
    await server.handler.data_started.wait()
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert (await sender.send(make_email())).outcome is channels.Outcome.SENT
    assert server.connections == 2


# --- TLS and AUTH --------------------------------------------------------------------------------


async def test_starttls_with_auth_delivers(smtp_server, open_sender, make_email, tls):
    server = await smtp_server(tls_context=tls.server_context(), require_starttls=True,
                               authenticator=fixtures.Authenticator(), auth_required=True)
    sender = await open_sender(settings_for(server, security="starttls", tls_context=tls.client_context(),
                                            username=fixtures.USERNAME, password=fixtures.PASSWORD))
    for _ in range(2):
        assert (await sender.send(make_email())).outcome is channels.Outcome.SENT
    assert [d.login for d in server.deliveries] == [fixtures.USERNAME.encode()] * 2
    assert server.connections == 1


async def test_wrong_password_is_retry_and_logged_as_an_error(smtp_server, open_sender, make_email, tls, caplog):
    server = await smtp_server(tls_context=tls.server_context(), require_starttls=True,
                               authenticator=fixtures.Authenticator(), auth_required=True)
    sender = await open_sender(settings_for(server, security="starttls", tls_context=tls.client_context(),
                                            username=fixtures.USERNAME, password="wrong"))
    with caplog.at_level(logging.ERROR, logger="connectors.email"):
        result = await sender.send(make_email())
    assert result.outcome is channels.Outcome.RETRY
    assert result.reason.startswith("authentication failed: 535")
    assert any("authentication failed" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert server.deliveries == []


async def test_server_demanding_auth_we_did_not_give_is_retry(smtp_server, open_sender, make_email, tls):
    server = await smtp_server(tls_context=tls.server_context(), authenticator=fixtures.Authenticator(),
                               auth_required=True)
    sender = await open_sender(settings_for(server, security="starttls", tls_context=tls.client_context()))
    result = await sender.send(make_email())
    assert result.outcome is channels.Outcome.RETRY
    assert result.reason.startswith("authentication or encryption required: 530")
    assert server.deliveries == []


async def test_credentials_are_not_sent_in_clear(smtp_server, open_sender, make_email, tls):
    # aiosmtpd offers AUTH only over TLS by default; with security "none" the client must not log in.
    server = await smtp_server(tls_context=tls.server_context(), authenticator=fixtures.Authenticator())
    sender = await open_sender(settings_for(server, security="none", username=fixtures.USERNAME,
                                            password=fixtures.PASSWORD))
    result = await sender.send(make_email())
    assert result.outcome is channels.Outcome.RETRY
    assert "AUTH" in result.reason
    assert server.deliveries == []


async def test_untrusted_certificate_is_retry_and_logged(smtp_server, open_sender, make_email, tls, caplog):
    server = await smtp_server(tls_context=tls.server_context(), require_starttls=True)
    stranger = ssl.create_default_context()  # the system store does not know our private CA
    sender = await open_sender(settings_for(server, security="starttls", tls_context=stranger))
    with caplog.at_level(logging.ERROR, logger="connectors.email"):
        result = await sender.send(make_email())
    assert result.outcome is channels.Outcome.RETRY
    assert "CERTIFICATE_VERIFY_FAILED" in result.reason
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert server.deliveries == []


async def test_implicit_tls_with_auth_delivers(smtp_server, open_sender, make_email, tls):
    # aiosmtpd counts only STARTTLS as TLS for AUTH, so an implicit-TLS listener must waive the check.
    server = await smtp_server(implicit_tls=tls.server_context(), authenticator=fixtures.Authenticator(),
                               auth_require_tls=False)
    sender = await open_sender(settings_for(server, security="tls", tls_context=tls.client_context(),
                                            username=fixtures.USERNAME, password=fixtures.PASSWORD))
    assert (await sender.send(make_email())).outcome is channels.Outcome.SENT
    assert [d.login for d in server.deliveries] == [fixtures.USERNAME.encode()]
