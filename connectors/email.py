"""Email over SMTP: `SmtpSender` (the MIME builder every email connector shares is connectors.mime).

`SmtpSender` keeps one SMTP session open and reuses it across `send()` calls (a handshake with
STARTTLS and AUTH costs several round trips; see bench/deliver.py). It is opened lazily on the
first send, replaced after `max_messages_per_connection` messages, and replaced transparently when
the server has dropped it while idle. Sends on one sender are serialised; connectors.smtp_pool runs
several for parallel sessions.

Outcomes (engine.channels.Outcome):

* 250 after DATA → SENT, provider_id = the Message-ID (without angle brackets), response = the
  server's reply text;
* a 5xx reply to MAIL, RCPT or DATA → DEAD (the server refuses this message for good);
* a 4xx reply, timeouts, refused or dropped connections → RETRY (the session is dropped);
* configuration faults — AUTH rejected (SMTPAuthenticationError, or 530/534/535/538 replies),
  TLS failures, a server without AUTH or STARTTLS — → RETRY, logged as errors. They say nothing
  about the message and cannot succeed until an operator fixes the settings, but DEAD would
  silently discard every notice queued meanwhile; the worker's retry limit bounds the waste.
* a message that cannot be built or addressed (header injection, a non-ASCII extra header such
  as List-Unsubscribe, non-ASCII or missing recipient address; SMTPUTF8 is not used) → DEAD,
  without touching the network.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import logging
import socket
import ssl
import urllib.parse
from typing import Any

import aiosmtplib

from connectors.mime import UNSAFE_IN_MAILBOX, build_message, envelope_recipient, message_id, render  # noqa: F401 - this module's API
from engine.notices import channels

log = logging.getLogger(__name__)

SECURITY_MODES = ("none", "starttls", "tls")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
URL_SCHEMES = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "tls"}
# Seconds allowed for connecting and for each SMTP command; public relays answer in well under a
# second, a minute would stall the worker's whole batch behind one sick server.
DEFAULT_TIMEOUT = 30.0
# Many providers (Exchange Online, Tencent and NetEase enterprise mail) cap messages per session
# around 100; recycling a little sooner avoids a 4xx mid-batch.
DEFAULT_MAX_MESSAGES_PER_CONNECTION = 90


# RFC 4954 replies that mean "your credentials / security settings are wrong", not "this message".
AUTH_REPLY_CODES = frozenset({530, 534, 535, 538})


@dataclasses.dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """How to reach the SMTP relay and who the mail is from.

    `security`: "none" (plain, for a local relay), "starttls" (upgrade on 587) or "tls" (implicit
    TLS on 465). `port` defaults by security. `tls_context` replaces the system trust store (tests
    trust their own CA with it). `from_name` may be Chinese; it is RFC 2047-encoded on the wire.
    """

    host: str
    from_address: str
    port: int | None = None
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    security: str = "starttls"
    from_name: str = ""
    timeout: float = DEFAULT_TIMEOUT
    tls_context: ssl.SSLContext | None = dataclasses.field(default=None, repr=False, compare=False)
    max_messages_per_connection: int = DEFAULT_MAX_MESSAGES_PER_CONNECTION
    #: Name sent in EHLO; None asks the OS for its FQDN once per sender.
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(f"SMTP security must be one of {', '.join(SECURITY_MODES)}, not {self.security!r}")
        if not self.host:
            raise ValueError("SMTP host is empty")
        if self.port is None:
            object.__setattr__(self, "port", DEFAULT_PORTS[self.security])
        elif not 0 < self.port < 65536:
            raise ValueError(f"SMTP port {self.port} is out of range")
        _, address = email.utils.parseaddr(self.from_address)
        if (not address or "@" not in address or address != self.from_address or not address.isascii()
                or UNSAFE_IN_MAILBOX.search(address)):
            raise ValueError(f"SMTP from address {self.from_address!r} is not a bare ASCII address "
                             "like noreply@example.cn")
        if (self.username is None) != (self.password is None):
            raise ValueError("SMTP username and password go together: give both or neither")
        if self.timeout <= 0:
            raise ValueError(f"SMTP timeout must be positive, not {self.timeout}")
        if self.max_messages_per_connection < 1:
            raise ValueError("SMTP max_messages_per_connection must be at least 1")

    @classmethod
    def from_url(cls, url: str, *, tls_context: ssl.SSLContext | None = None) -> SmtpSettings:
        """Parse an SMTP URL:

            scheme://[user:password@]host[:port]?from=ADDRESS[&from_name=NAME][&timeout=SECONDS]
                                                 [&max_messages=N][&local_hostname=EHLO_NAME]

        Schemes: `smtp` (no TLS, port 25), `smtp+starttls` (STARTTLS, 587), `smtps` (implicit TLS,
        465). User, password and query values are percent-decoded (UTF-8), so
        `smtps://bot%40example.cn:p%40ss@smtp.example.cn?from=bot@example.cn&from_name=%E6%94%BF%E7%AD%96`
        logs in as `bot@example.cn` and signs the mail "政策". Raises ValueError naming what is wrong.
        """
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in URL_SCHEMES:
            raise ValueError(f"SMTP URL scheme must be one of {', '.join(URL_SCHEMES)}, not {parts.scheme!r}")
        if parts.path not in ("", "/") or parts.fragment:
            raise ValueError("SMTP URL takes no path or fragment: put options in the query string")
        if not parts.hostname:
            raise ValueError("SMTP URL has no host")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"SMTP URL port is invalid: {exc}") from None
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
        known = {"from", "from_name", "timeout", "max_messages", "local_hostname"}
        if unknown := sorted(set(query) - known):
            raise ValueError(f"SMTP URL has unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if repeated := sorted(name for name, values in query.items() if len(values) > 1):
            raise ValueError(f"SMTP URL repeats option(s) {', '.join(repeated)}")
        options = {name: values[0] for name, values in query.items()}
        if not options.get("from"):
            raise ValueError("SMTP URL needs ?from=ADDRESS (the envelope and header sender)")
        extra: dict[str, Any] = {}
        numbers = (("timeout", float, "timeout"), ("max_messages", int, "max_messages_per_connection"))
        for name, convert, field in numbers:
            if name in options:
                try:
                    extra[field] = convert(options[name])
                except ValueError:
                    raise ValueError(f"SMTP URL option {name}={options[name]!r} is not a number") from None
        username = urllib.parse.unquote(parts.username) if parts.username is not None else None
        password = urllib.parse.unquote(parts.password) if parts.password is not None else None
        if username is not None and password is None:
            raise ValueError("SMTP URL has a user but no password (user:password@host)")
        return cls(host=parts.hostname, port=port, username=username, password=password,
                   security=URL_SCHEMES[parts.scheme], from_address=options["from"],
                   from_name=options.get("from_name", ""), local_hostname=options.get("local_hostname") or None,
                   tls_context=tls_context, **extra)



class SmtpSender:
    """engine.channels.EmailSender over one reused SMTP session (see the module docstring)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._client: aiosmtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._fqdn: str | None = None
        # One transaction at a time: MAIL/RCPT/DATA of two notices must not interleave on one session.
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Nothing to do up front: the session opens on the first send, so a relay that is down at
        start-up delays mail instead of stopping the worker."""

    async def close(self) -> None:
        """QUIT the session if one is open."""
        async with self._lock:
            await self._quit()

    async def send(self, message: channels.EmailMessage) -> channels.SendResult:
        """Deliver one message to the relay and classify the answer."""
        settings = self.settings
        try:
            recipient, payload = render(message, from_address=settings.from_address, from_name=settings.from_name)
        except ValueError as exc:
            return channels.SendResult(channels.Outcome.DEAD, reason=f"invalid message: {exc}")
        return await self.send_rendered(message, recipient, payload)

    async def send_rendered(self, message: channels.EmailMessage, recipient: str, payload: bytes) -> channels.SendResult:
        """:meth:`send` of a message already built (`render`): only the SMTP transaction, so a pool of senders
        builds messages before taking a session (connectors.smtp_pool)."""
        settings = self.settings
        async with self._lock:
            try:
                reply = await self._transaction(recipient, payload)
            except asyncio.CancelledError:
                self._drop()  # the session is mid-command; its state is unknown
                raise
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                return await self._failed(message, exc)
        return channels.SendResult(channels.Outcome.SENT, provider_id=message_id(message, settings.from_address),
                                   response=str(reply))

    async def _transaction(self, recipient: str, payload: bytes) -> aiosmtplib.SMTPResponse:
        reused = await self._connect()
        client = self._client
        assert client is not None
        options = [f"SIZE={len(payload)}"] if client.supports_extension("size") else []
        try:
            await client.mail(self.settings.from_address, options=options)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPResponseException) as exc:
            # An idle session the server has since dropped (or answers with 421 "closing") fails
            # at MAIL, before any of the message was sent: reconnect once, safely.
            if not reused or (isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code != 421):
                raise
            log.info("SMTP session to %s went away while idle (%s); reconnecting", self.settings.host, exc)
            self._drop()
            await self._connect()
            client = self._client
            assert client is not None
            await client.mail(self.settings.from_address, options=options)
        await client.rcpt(recipient)
        reply = await client.data(payload)
        self._sent_on_connection += 1
        if self._sent_on_connection >= self.settings.max_messages_per_connection:
            await self._quit()
        return reply

    async def _connect(self) -> bool:
        """Open the session if there is none; True if an existing one is reused."""
        if self._client is not None and self._client.is_connected:
            return True
        self._drop()
        settings = self.settings
        client = aiosmtplib.SMTP(
            hostname=settings.host, port=settings.port, username=settings.username, password=settings.password,
            timeout=settings.timeout, use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls", tls_context=settings.tls_context,
            local_hostname=settings.local_hostname or await self._local_hostname())
        await client.connect()  # aiosmtplib closes the transport itself if this raises
        self._client = client
        self._sent_on_connection = 0
        return False

    async def _local_hostname(self) -> str:
        # socket.getfqdn can take seconds on a host with broken DNS: ask once per sender.
        if self._fqdn is None:
            self._fqdn = await asyncio.to_thread(socket.getfqdn)
        return self._fqdn

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    async def _quit(self) -> None:
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            pass  # we are leaving anyway
        finally:
            client.close()

    async def _failed(self, message: channels.EmailMessage, exc: BaseException) -> channels.SendResult:
        """Classify a failure, and leave the session clean (RSET) or dropped."""
        host = self.settings.host
        retry = channels.Outcome.RETRY
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or (
                isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code in AUTH_REPLY_CODES):
            self._drop()
            text = f"{exc.code} {exc.message}"
            what = ("authentication failed" if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or exc.code == 535
                    else "authentication or encryption required")
            log.error("SMTP %s: %s (%s); check the SMTP username, password and security", host, what, text)
            return channels.SendResult(retry, response=text, reason=f"{what}: {text}")
        transaction_reply = isinstance(exc, (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPRecipientRefused,
                                             aiosmtplib.SMTPDataError))
        if transaction_reply:
            await self._reset()
            text = f"{exc.code} {exc.message}"
            if 500 <= exc.code < 600:
                return channels.SendResult(channels.Outcome.DEAD, response=text, reason=f"refused: {text}")
            return channels.SendResult(retry, response=text, reason=f"temporary failure: {text}")
        self._drop()
        if isinstance(exc, (aiosmtplib.SMTPTimeoutError, TimeoutError)):
            log.warning("SMTP %s timed out on notice %s: %s", host, message.notice_id, exc)
            return channels.SendResult(retry, reason=f"timeout: {exc}")
        if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError)) and not _tls_fault(exc):
            log.warning("SMTP %s unreachable on notice %s: %s", host, message.notice_id, exc)
            return channels.SendResult(retry, reason=f"connection failed: {exc}")
        if isinstance(exc, aiosmtplib.SMTPResponseException):  # greeting, EHLO, STARTTLS refused
            log.error("SMTP %s refused the session (%s %s)", host, exc.code, exc.message)
            return channels.SendResult(retry, response=f"{exc.code} {exc.message}",
                                       reason=f"session refused: {exc.code} {exc.message}")
        # TLS handshake/verification failures, missing STARTTLS or AUTH support: settings faults.
        log.error("SMTP session to %s failed (%s: %s): check the SMTP security settings",
                  host, type(exc).__name__, exc)
        return channels.SendResult(retry, reason=f"session failed: {type(exc).__name__}: {exc}")

    async def _reset(self) -> None:
        """RSET after a refused transaction so the session can carry the next message."""
        client = self._client
        if client is None or not client.is_connected:
            self._drop()
            return
        try:
            await client.rset()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            self._drop()


def _tls_fault(exc: BaseException) -> bool:
    """True if an ssl.SSLError is somewhere in the exception's causes."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
