"""SMTP fixtures: a real aiosmtpd server in the test's own event loop, and TLS material from trustme.

aiosmtpd's threaded Controller cannot bind port 0, so (as aiosmtplib's own tests do) the server
is `loop.create_server(lambda: aiosmtpd.smtp.SMTP(handler, ...), port=0)` and the port is read
from the bound socket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiosmtpd.smtp
import pytest
import trustme

from engine.notices import channels

SERVER_NAME = "mx.test"
USERNAME = "notices@example.cn"
PASSWORD = "s3cret-口令"


@dataclasses.dataclass
class Delivery:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: bytes | None  # the AUTH user of the session, if any


class RecordingHandler:
    """Records accepted messages; answers MAIL/RCPT/DATA from scripts when told to.

    A scripted DATA reply "HANG" never answers (for timeouts). `refuse` maps a command ("MAIL",
    "RCPT", "DATA") to a reply given to every such command while it is set: a server in trouble
    (e.g. "421 4.3.2 Service not available") for as long as a test says."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.data_attempts = 0
        self.data_started = asyncio.Event()
        self.mail_replies: deque[str] = deque()
        self.rcpt_replies: deque[str] = deque()
        self.data_replies: deque[str] = deque()
        self.refuse: dict[str, str] = {}

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_replies:
            return self.mail_replies.popleft()
        if "MAIL" in self.refuse:
            return self.refuse["MAIL"]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_replies:
            return self.rcpt_replies.popleft()
        if "RCPT" in self.refuse:
            return self.refuse["RCPT"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_attempts += 1
        self.data_started.set()
        if self.data_replies:
            reply = self.data_replies.popleft()
            if reply == "HANG":
                await asyncio.Event().wait()  # cancelled when the client gives up and disconnects
            return reply
        if "DATA" in self.refuse:
            return self.refuse["DATA"]
        self.deliveries.append(Delivery(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                        session.auth_data.login if session.auth_data else None))
        return f"250 2.0.0 Ok: queued as Q{len(self.deliveries)}"


class Authenticator:
    """aiosmtpd authenticator accepting USERNAME / PASSWORD only."""

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == USERNAME.encode() and auth_data.password == PASSWORD.encode()
        # handled=False makes aiosmtpd answer the standard "535 5.7.8" on failure.
        return aiosmtpd.smtp.AuthResult(success=ok, handled=False, auth_data=auth_data)


class SmtpTestServer:
    """A listening aiosmtpd server; `connections` counts the sessions it accepted. After `stop()`,
    `start()` listens again on the same port (a relay coming back after an outage)."""

    def __init__(self, handler: RecordingHandler, smtp_options: dict[str, Any], ssl_context: ssl.SSLContext | None):
        self.handler = handler
        self._smtp_options = smtp_options
        self._ssl_context = ssl_context
        self._sessions: list[aiosmtpd.smtp.SMTP] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def connections(self) -> int:
        return len(self._sessions)

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def deliveries(self) -> list[Delivery]:
        return self.handler.deliveries

    def _session(self) -> aiosmtpd.smtp.SMTP:
        session = aiosmtpd.smtp.SMTP(self.handler, hostname=SERVER_NAME, loop=asyncio.get_running_loop(),
                                     **self._smtp_options)
        self._sessions.append(session)
        return session

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Port 0 the first time; the same port again on a restart (asyncio sets SO_REUSEADDR).
        self._server = await loop.create_server(self._session, host="127.0.0.1", port=self.port, ssl=self._ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def drop_connections(self) -> None:
        """Close every open session from the server side, as an idle timeout would."""
        tasks = []
        for session in self._sessions:
            if session.transport is not None:
                session.transport.close()
            if session._handler_coroutine is not None:
                tasks.append(session._handler_coroutine)
        # Each session's task ends (cancelled) once its transport reports the connection lost.
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Stop listening and close every session."""
        if self._server is not None:
            self._server.close()
            await self.drop_connections()
            await self._server.wait_closed()
            self._server = None


@dataclasses.dataclass
class TlsMaterial:
    ca: trustme.CA
    server_cert: trustme.LeafCert

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="session")
def tls() -> TlsMaterial:
    """A private CA and a certificate for 127.0.0.1 / localhost signed by it."""
    ca = trustme.CA()
    return TlsMaterial(ca, ca.issue_cert("127.0.0.1", "localhost"))


StartServer = Callable[..., Awaitable[SmtpTestServer]]


@pytest.fixture
async def smtp_server() -> AsyncIterator[StartServer]:
    """Start servers: `await smtp_server(implicit_tls=ctx, **aiosmtpd.smtp.SMTP options)`; all are
    stopped after the test."""
    servers: list[SmtpTestServer] = []

    async def start(*, implicit_tls: ssl.SSLContext | None = None, **smtp_options: Any) -> SmtpTestServer:
        server = SmtpTestServer(RecordingHandler(), smtp_options, implicit_tls)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
def make_email() -> Callable[..., channels.EmailMessage]:
    """A Chinese notice email; keyword arguments override fields."""
    counter = iter(range(1, 1_000_000))

    def make(**overrides: Any) -> channels.EmailMessage:
        number = next(counter)
        notice_id = overrides.pop("notice_id", f"ntc_{number:04d}")
        fields: dict[str, Any] = {
            "notice_id": notice_id,
            "to": "caiwu@firm.example.cn",
            "subject": "【免申即享】贵企业可享受小微企业房租减免，无需申请",
            "text": "尊敬的企业负责人：\n贵企业符合大同市小微企业房租减免条件，减免将自动发放。\n",
            "html": "<p>尊敬的企业负责人：</p><p>贵企业符合<b>大同市小微企业房租减免</b>条件。</p>",
            "headers": {
                "List-Unsubscribe": f"<https://push.example.cn/u/{notice_id}>, "
                                    f"<mailto:unsub@example.cn?subject={notice_id}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "X-Notice-Id": notice_id,
            },
            "message_id": f"{notice_id}@push.example.cn",
        }
        fields.update(overrides)
        return channels.EmailMessage(**fields)

    return make
