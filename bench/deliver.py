"""Email delivery benchmark: one reused SMTP session (SmtpSender) against a connection per message.

A local aiosmtpd server runs in its own process (this script re-run with `--serve`), so the load
generator and the server do not share an event loop or a core; it accepts and discards every
message and reports how many messages and sessions it saw. This process sends the same N notices
twice, one at a time, through the same MIME builder, alternating the modes every CHUNK notices:

* `SmtpSender` — one session reused, renewed every `--per-session` messages (its default);
* connection per message — connect, EHLO, (STARTTLS,) MAIL/RCPT/DATA, QUIT for each notice.

Prints notices/s for both and the ratio, and the rate of MIME building alone (the stdlib email
package's header folding is the ceiling here). On loopback a new connection costs little; against a
remote relay each one adds ~4 round trips (TCP, greeting, EHLO, QUIT) plus TLS and AUTH, so the
real gap is wider than measured here. `--starttls` upgrades every session with a throw-away
trustme certificate, as a real relay on port 587 would. The server stops when this process closes
its stdin, or after SERVE_LIMIT_SECONDS whatever happens.

    .venv/bin/python bench/deliver.py [--messages 10000] [--starttls] [--per-session 90]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import platform
import ssl
import sys
import tempfile
import time

import aiosmtplib

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors import email as smtp
from engine.notices import channels

# The server process gives up after this long even if nobody tells it to stop.
SERVE_LIMIT_SECONDS = 900
# How long to wait for the server process to start and to report at the end.
SERVER_START_SECONDS = 30
FROM = "notices@push.example.cn"
LOCAL_HOSTNAME = "bench-client.test"
# The two modes alternate in chunks of this many notices, so load from other processes on a shared
# machine falls on both alike.
CHUNK = 500


def notice(number: int) -> channels.EmailMessage:
    """A typical notice: Chinese subject and body, text + HTML, unsubscribe headers."""
    notice_id = f"ntc_bench{number:08d}"
    return channels.EmailMessage(
        notice_id=notice_id, to=f"firm{number % 500}@example.cn",
        subject="【免申即享】贵企业可享受小微企业房租减免，无需申请",
        text="尊敬的企业负责人：\n贵企业符合大同市小微企业房租减免条件，减免将于次月自动发放，无需提交申请。\n" * 3,
        html="<p>尊敬的企业负责人：</p><p>贵企业符合<b>大同市小微企业房租减免</b>条件，减免将于次月自动发放。</p>" * 3,
        headers={"List-Unsubscribe": f"<https://push.example.cn/u/{notice_id}>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "X-Notice-Id": notice_id},
        message_id=f"{notice_id}@push.example.cn")


# --- the server process --------------------------------------------------------------------------


async def serve(cert_file: str | None) -> None:
    """Listen on an ephemeral port, print it, run until stdin closes, print the counts."""
    import aiosmtpd.smtp

    class Discard:
        messages = 0

        async def handle_DATA(self, server, session, envelope):
            Discard.messages += 1
            return "250 2.0.0 Ok: discarded"

    loop = asyncio.get_running_loop()
    tls_context = None
    if cert_file:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(cert_file)
    sessions = 0

    def session() -> aiosmtpd.smtp.SMTP:
        nonlocal sessions
        sessions += 1
        return aiosmtpd.smtp.SMTP(Discard(), hostname="bench-mx.test", tls_context=tls_context, loop=loop)

    server = await loop.create_server(session, host="127.0.0.1", port=0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    try:
        await asyncio.wait_for(stdin.read(), SERVE_LIMIT_SECONDS)
    except TimeoutError:
        pass
    server.close()
    print(json.dumps({"messages": Discard.messages, "sessions": sessions}), flush=True)


class BenchServer:
    """The server subprocess, seen from the load generator."""

    def __init__(self, cert_file: str | None) -> None:
        self._cert_file = cert_file
        self.port = 0

    async def start(self) -> None:
        extra = ["--cert", self._cert_file] if self._cert_file else []
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", *extra,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        line = await asyncio.wait_for(self._process.stdout.readline(), SERVER_START_SECONDS)
        self.port = int(line)

    async def stop(self) -> dict[str, int]:
        """Close its stdin; return its final counts."""
        self._process.stdin.close()
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), SERVER_START_SECONDS)
            await asyncio.wait_for(self._process.wait(), SERVER_START_SECONDS)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
            raise
        return json.loads(line)


# --- the two ways of sending ---------------------------------------------------------------------


async def reused_session(sender: smtp.SmtpSender, numbers: range) -> float:
    started = time.perf_counter()
    for number in numbers:
        result = await sender.send(notice(number))
        if result.outcome is not channels.Outcome.SENT:
            raise SystemExit(f"reused session: notice {number} got {result}")
    return time.perf_counter() - started


async def connection_per_message(settings: smtp.SmtpSettings, numbers: range) -> float:
    started = time.perf_counter()
    for number in numbers:
        recipient, payload = smtp.render(notice(number), from_address=settings.from_address,
                                         from_name=settings.from_name)
        client = aiosmtplib.SMTP(hostname=settings.host, port=settings.port, timeout=settings.timeout,
                                 start_tls=settings.security == "starttls", tls_context=settings.tls_context,
                                 local_hostname=settings.local_hostname)
        await client.connect()
        try:
            await client.sendmail(settings.from_address, [recipient], payload)
            await client.quit()
        finally:
            client.close()
    return time.perf_counter() - started


def build_only(settings: smtp.SmtpSettings, numbers: range) -> float:
    started = time.perf_counter()
    for number in numbers:
        smtp.render(notice(number), from_address=settings.from_address, from_name=settings.from_name)
    return time.perf_counter() - started


async def run(messages: int, starttls: bool, per_session: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        cert_file = client_context = None
        if starttls:
            import trustme
            ca = trustme.CA()
            cert_file = str(pathlib.Path(scratch) / "server.pem")
            ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(cert_file)
            client_context = ssl.create_default_context()
            ca.configure_trust(client_context)
        server = BenchServer(cert_file)
        await server.start()
        settings = smtp.SmtpSettings(host="127.0.0.1", port=server.port, from_address=FROM,
                                     from_name="山西省中小企业服务中心", security="starttls" if starttls else "none",
                                     tls_context=client_context, max_messages_per_connection=per_session,
                                     local_hostname=LOCAL_HOSTNAME)
        sender = smtp.SmtpSender(settings)
        reused = per_message = 0.0
        try:
            await sender.open()
            for start in range(0, messages, CHUNK):
                chunk = range(start, min(start + CHUNK, messages))
                reused += await reused_session(sender, chunk)
                per_message += await connection_per_message(settings, chunk)
            await sender.close()
        finally:
            counts = await server.stop()
    built = build_only(settings, range(min(messages, 2000)))

    print(f"email delivery: {messages} notices each way to aiosmtpd (separate process) on 127.0.0.1, "
          f"{'STARTTLS' if starttls else 'plain SMTP'}; Python {platform.python_version()}, "
          f"{platform.system()} {platform.machine()}, aiosmtplib {aiosmtplib.__version__}")
    print(f"  reused session ({per_session}/session): {messages / reused:8.0f} notices/s  ({reused:.2f} s)")
    print(f"  connection per message:    {messages / per_message:8.0f} notices/s  ({per_message:.2f} s)")
    print(f"  ratio reused / per-message: {per_message / reused:.2f}x")
    print(f"  (MIME build alone:         {min(messages, 2000) / built:8.0f} notices/s, the ceiling of both)")
    expected_sessions = -(-messages // per_session) + messages
    print(f"  server saw {counts['messages']} messages in {counts['sessions']} sessions "
          f"(expected {2 * messages} in {expected_sessions})")
    if counts["messages"] != 2 * messages or counts["sessions"] != expected_sessions:
        raise SystemExit("server counts do not match what was sent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000, help="notices per mode (default 10000)")
    parser.add_argument("--starttls", action="store_true", help="upgrade every session with STARTTLS")
    parser.add_argument("--per-session", type=int, default=smtp.DEFAULT_MAX_MESSAGES_PER_CONNECTION,
                        help="messages per reused session (default: SmtpSender's)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cert", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.cert))
        return
    if not 1 <= args.messages <= 200_000:
        parser.error("--messages must be between 1 and 200000")
    asyncio.run(run(args.messages, args.starttls, args.per_session))


if __name__ == "__main__":
    main()
