"""A real SMTP server in its own process that records every message it accepts.

    python -m tests.scale.smtp_sink --port P --out FILE

Each accepted message becomes one JSON line in FILE, flushed at once, so a reader sees every
message the server answered 250 to, even if this process is killed right after:

    {"message_id": "...", "notice_id": "...", "helo": "worker-0.test", "peer": ["127.0.0.1", 51234], "at": 1700000000.1}

`helo` is the name the client gave in EHLO/HELO (a test gives each sending process its own, so
every message can be traced to its sender), `peer` the client end of the SMTP connection (one per
sender session), `at` the server's wall clock when the message was accepted. FILE is created only once the server listens, so a
test can poll for it instead of guessing when the sink is ready. SIGTERM or SIGINT stops it.

It runs apart from the test process so the test's event loop and the SMTP server never compete
for one interpreter, as with a real mail relay.
"""

from __future__ import annotations

import argparse
import asyncio
import email.parser
import email.policy
import json
import pathlib
import signal
import time
from typing import IO, Any

from aiosmtpd import smtp

#: Name the server gives in its greeting; a fixed one avoids a DNS look-up of the machine's FQDN.
SERVER_HOSTNAME = "sink.test"
#: The notice id header the email renderer sets (engine.notices.render).
NOTICE_ID_HEADER = "X-Notice-Id"

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def record(content: bytes, helo: str | None, peer: Any) -> dict[str, Any]:
    """What the sink keeps of one message: its ids (headers only are parsed), the client and the time."""
    headers = _HEADERS.parsebytes(content)
    message_id = (headers.get("Message-ID") or "").strip().removeprefix("<").removesuffix(">")
    notice_id = (headers.get(NOTICE_ID_HEADER) or "").strip()
    return {"message_id": message_id, "notice_id": notice_id, "helo": helo,
            "peer": list(peer) if peer else None, "at": time.time()}


class RecordingHandler:
    """aiosmtpd handler: append one flushed JSON line per message, then answer 250."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    async def handle_DATA(self, server: smtp.SMTP, session: smtp.Session, envelope: smtp.Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        self.out.write(json.dumps(record(content, session.host_name, session.peer)) + "\n")
        # Flushed before the 250: a message the client saw accepted is always on file.
        self.out.flush()
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, out_path: pathlib.Path) -> None:
    """Listen until SIGTERM/SIGINT; create `out_path` only once listening."""
    partial = out_path.with_name(out_path.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        handler = RecordingHandler(out)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: smtp.SMTP(handler, hostname=SERVER_HOSTNAME, enable_SMTPUTF8=False), host=host, port=port
        )
        # Renamed into place only now, so its existence means "listening".
        partial.rename(out_path)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            server.close()
            await server.wait_closed()


def read_records(path: pathlib.Path) -> list[dict[str, Any]]:
    """Every message the sink recorded (for tests)."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


class Follower:
    """The records a running sink appends to FILE, as they come (for tests that act on a send):
    each call returns the complete lines written since the previous one."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.offset = 0

    def new_records(self) -> list[dict[str, Any]]:
        with self.path.open("rb") as lines:
            lines.seek(self.offset)
            data = lines.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next call
        self.offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=pathlib.Path, required=True, help="JSON Lines file, one line per accepted message")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.out))


if __name__ == "__main__":
    main()
