"""Delivery end to end: the real delivery worker, from due notices in the database to messages accepted by
a real SMTP server, against a connection per message sending the same messages to the same server.

For each database (SQLite file, and a throw-away PostgreSQL database), this script

1. seeds N firms, each with one due email digest: a firm judged by the production matcher from its events
   (console seed REAL: a VAT return meets qinghai-2022-2) is copied N times (profile, decision, notice);
2. runs the real `DeliveryWorker.run_once` with the real composer (catalogue, templates) and the real SMTP
   sender (`connectors.smtp_pool.SmtpPool`, `--sessions` sessions) until every digest is sent, and times it:
   claims, judging, composing, MIME, SMTP and every status write;
3. sends the very messages the worker composed (each digest's message as stored on its first notice) once
   more, one at a time over a connection per message (connect, EHLO, MAIL/RCPT/DATA, QUIT, the MIME built
   per message as any sender must, by the same builder), and times that: the naive sender; and once more
   the same way with the MIME built by the stdlib's generic builder, as every sender here did before;
4. checks the database (every notice `sent`) and the server's count, per run, of messages and of distinct
   Message-IDs: each digest arrived exactly once in each run.

The server is aiosmtpd in its own process (this script with `--serve`), so it does not share the event loop
or a core with the sender; it keeps only a count per Message-ID. The worker's rate limit is set far above
what is reached (the provider's limit is an operator's setting, not the worker's cost).

    .venv/bin/python bench/deliver_worker.py [--digests 3000] [--sessions 4] [--databases sqlite,postgres]
                                             [--profile FILE]

`--profile FILE` runs the worker under cProfile (slower) and prints where its time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import datetime
import json
import pathlib
import platform
import pstats
import re
import sys
import tempfile
import time

import aiosmtplib
import sqlalchemy as sa

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _common  # noqa: E402
from connectors import email as smtp  # noqa: E402
from connectors import mime, smtp_pool, sql_storage  # noqa: E402
from connectors import sql_models as models  # noqa: E402
from engine import constants  # noqa: E402
from engine.judging import catalogue  # noqa: E402
from engine.notices import compose, config, outbox, pacing, worker  # noqa: E402
from tests import factories  # noqa: E402
from tests.console import seed  # noqa: E402

#: The server gives up after this long even if nobody tells it to stop.
SERVE_LIMIT_SECONDS = 1800
SERVER_START_SECONDS = 30
FROM = "notices@push.example.cn"
LOCAL_HOSTNAME = "bench-client.test"
MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>\r\n]+)>", re.IGNORECASE | re.MULTILINE)
SETTINGS = config.NoticeSettings(secret_key="bench-deliver-secret", public_url="https://zc.example.gov.cn", quiet_hours=None)
_FIRM, _DECISION, _NOTICE = models.Firm.__table__, models.Decision.__table__, models.Notice.__table__


# --- the server process --------------------------------------------------------------------------


async def serve() -> None:
    """Listen on an ephemeral port and print it; on each line read from stdin, print the counts since the
    last one (messages, sessions, distinct Message-IDs, the most copies of one) and start again; end at EOF."""
    import aiosmtpd.smtp

    seen: collections.Counter[bytes] = collections.Counter()
    sessions = 0

    class Count:
        async def handle_DATA(self, server, session, envelope):
            found = MESSAGE_ID.search(envelope.original_content or envelope.content)
            seen[found.group(1) if found else b""] += 1
            return "250 2.0.0 Ok: counted"

    def session() -> aiosmtpd.smtp.SMTP:
        nonlocal sessions
        sessions += 1
        return aiosmtpd.smtp.SMTP(Count(), hostname="bench-mx.test", enable_SMTPUTF8=False)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(session, host="127.0.0.1", port=0)
    print(server.sockets[0].getsockname()[1], flush=True)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    deadline = loop.time() + SERVE_LIMIT_SECONDS
    cpu = time.process_time()
    while await asyncio.wait_for(stdin.readline(), max(0.1, deadline - loop.time())):
        print(json.dumps({"messages": sum(seen.values()), "sessions": sessions, "distinct": len(seen),
                          "most_copies": max(seen.values(), default=0),
                          "cpu_seconds": round(time.process_time() - cpu, 2)}), flush=True)
        seen.clear()
        sessions, cpu = 0, time.process_time()
    server.close()


class Server:
    """The counting server subprocess, seen from the load generator."""

    async def start(self) -> int:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return int(await asyncio.wait_for(self._process.stdout.readline(), SERVER_START_SECONDS))

    async def counts(self) -> dict[str, int]:
        """What arrived since the last call."""
        self._process.stdin.write(b"report\n")
        await self._process.stdin.drain()
        return json.loads(await asyncio.wait_for(self._process.stdout.readline(), SERVER_START_SECONDS))

    async def stop(self) -> None:
        self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), SERVER_START_SECONDS)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()


# --- seeding ---------------------------------------------------------------------------------------


async def seeded(store: sql_storage.SqlStorage, digests: int) -> None:
    """`digests` firms with one due email digest each, copied from REAL as the production matcher judged it."""
    await seed.real_firm(store, catalogue.default_matcher())
    async with store.write() as connection:  # a benchmark seeds rows directly
        firm = dict((await connection.execute(sa.select(_FIRM).where(_FIRM.c.uscc == seed.REAL))).one()._mapping)
        [decision] = [dict(r._mapping) for r in await connection.execute(
            sa.select(_DECISION).where(_DECISION.c.uscc == seed.REAL, _DECISION.c.id.in_(
                sa.select(_NOTICE.c.decision_id).where(_NOTICE.c.uscc == seed.REAL, _NOTICE.c.channel == "email"))))]
        notice = dict((await connection.execute(
            sa.select(_NOTICE).where(_NOTICE.c.uscc == seed.REAL, _NOTICE.c.channel == "email"))).one()._mapping)
        await connection.execute(sa.delete(_NOTICE).where(_NOTICE.c.uscc == seed.REAL))  # its own go too: none left over
        first_id = (await connection.execute(sa.select(sa.func.max(_DECISION.c.id)))).scalar() + 1
        due = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
        firms, decisions, notices = [], [], []
        for n in range(digests):
            uscc = factories.uscc(500_000 + n, region="630102")
            fields = {**firm["fields"], "contact.email": f"firm{n}@example.cn"}
            firms.append({**firm, "uscc": uscc, "fields": fields})
            decisions.append({**decision, "id": first_id + n, "uscc": uscc})
            notices.append({**notice, "id": None, "notice_id": outbox.new_notice_id(), "uscc": uscc,
                            "decision_id": first_id + n, "next_attempt_at": due, "status": "pending"})
        for table, rows in ((_FIRM, firms), (_DECISION, decisions), (_NOTICE, notices)):
            for start in range(0, len(rows), 1000):
                await connection.execute(sa.insert(table), [{k: v for k, v in r.items() if v is not None or k != "id"}
                                                            for r in rows[start:start + 1000]])
    if not store.is_sqlite:
        async with store.write() as connection:
            await connection.execute(sa.text("SELECT setval(pg_get_serial_sequence('decision', 'id'), (SELECT max(id) FROM decision))"))
            await connection.execute(sa.text("ANALYZE"))


# --- the two senders ---------------------------------------------------------------------------------


async def worker_run(store, port: int, sessions: int, profile: str | None) -> tuple[float, float]:
    settings = smtp.SmtpSettings(host="127.0.0.1", port=port, from_address=FROM, from_name="青海省中小企业服务中心",
                                 security="none", local_hostname=LOCAL_HOSTNAME)
    matcher_catalogue = catalogue.default_matcher().catalogue
    pool = smtp_pool.SmtpPool(settings, sessions)
    delivery = worker.DeliveryWorker(
        store, compose.Composer(matcher_catalogue, SETTINGS),
        {"email": worker.Channel(pool, pacing.RateLimiter(1_000_000), concurrency=sessions)},
        auto_grants=compose.auto_grant_clauses(matcher_catalogue),
    )
    profiler = cProfile.Profile() if profile else None
    cpu = time.process_time()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    try:
        await delivery.run_once()
    finally:
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        await pool.close()
    if profiler:
        profiler.dump_stats(profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return elapsed, cpu


async def composed_messages(store) -> list[smtp.channels.EmailMessage]:
    """The message of every digest the worker sent, as stored on its first notice."""
    async with store.read() as connection:
        rows = await connection.execute(sa.select(_NOTICE.c.message).where(_NOTICE.c.message.is_not(None)).order_by(_NOTICE.c.id))
        return [worker.message_from_json("email", message) for (message,) in rows]


def stdlib_render(message, *, from_address: str, from_name: str) -> tuple[str, bytes]:
    """The message as the stdlib's generic builder and generator write it (the builder before connectors.mime)."""
    msg = mime.build_message(message, from_address=from_address, from_name=from_name)
    return mime.envelope_recipient(msg), msg.as_bytes(policy=mime.POLICY)


async def connection_per_message(port: int, messages, render=smtp.render) -> tuple[float, float]:
    cpu = time.process_time()
    started = time.perf_counter()
    for message in messages:
        recipient, payload = render(message, from_address=FROM, from_name="青海省中小企业服务中心")
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, local_hostname=LOCAL_HOSTNAME)
        await client.connect()
        try:
            await client.sendmail(FROM, [recipient], payload)
            await client.quit()
        finally:
            client.close()
    return time.perf_counter() - started, time.process_time() - cpu


async def run(url: str, kind: str, digests: int, sessions: int, profile: str | None) -> None:
    store = sql_storage.SqlStorage(url)
    await store.open()
    server = Server()
    try:
        await seeded(store, digests)
        port = await server.start()
        by_worker, worker_cpu = await worker_run(store, port, sessions, profile)
        worker_counts = await server.counts()
        states = await store.count_notices()
        messages = await composed_messages(store)
        naive, naive_cpu = await connection_per_message(port, messages)
        naive_counts = await server.counts()
        stdlib, stdlib_cpu = await connection_per_message(port, messages, stdlib_render)
        stdlib_counts = await server.counts()
        started = time.perf_counter()
        for message in messages:
            smtp.render(message, from_address=FROM, from_name="青海省中小企业服务中心")
        built = time.perf_counter() - started
    finally:
        await server.stop()
        await store.close()

    print(f"delivery end to end on {kind}: {digests} due email digests (one notice each) -> aiosmtpd (own process), "
          f"plain SMTP on 127.0.0.1; Python {platform.python_version()}, {platform.system()} {platform.machine()}")
    print(f"  worker ({sessions} SMTP sessions, batches of {constants.NOTICE_BATCH_SIZE}): "
          f"{digests / by_worker:8.0f} messages/s  ({by_worker:.2f} s, {1000 * by_worker / digests:.2f} ms each; "
          f"this process's CPU {worker_cpu:.2f} s)")
    print(f"  connection per message:                {len(messages) / naive:8.0f} messages/s  ({naive:.2f} s; "
          f"this process's CPU {naive_cpu:.2f} s)")
    print(f"  connection per message, stdlib MIME:   {len(messages) / stdlib:8.0f} messages/s  ({stdlib:.2f} s; "
          f"this process's CPU {stdlib_cpu:.2f} s; the builder before connectors.mime)")
    print(f"  (MIME build alone:                     {len(messages) / built:8.0f} messages/s, {1000 * built / len(messages):.2f} ms each)")
    print(f"  ratio worker / per-message: {naive / len(messages) * digests / by_worker:.2f}x "
          f"(per-message with the stdlib MIME: {stdlib / len(messages) * digests / by_worker:.2f}x)"
          f"{'  (under cProfile)' if profile else ''}")
    print(f"  server: worker run {worker_counts}; naive run {naive_counts}; stdlib naive run {stdlib_counts}; "
          f"database {states}")
    for name, counts in (("worker", worker_counts), ("naive", naive_counts), ("stdlib naive", stdlib_counts)):
        if counts["messages"] != digests or counts["distinct"] != digests or counts["most_copies"] != 1:
            raise SystemExit(f"{name} run: the server did not get every digest exactly once: {counts}")
    if states != {"sent": digests}:
        raise SystemExit(f"not every notice is sent: {states}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--digests", type=int, default=3000, help="due email digests to seed and send (default 3000)")
    parser.add_argument("--sessions", type=int, default=constants.SMTP_SESSIONS, help="the worker's SMTP sessions")
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--profile", help="run the worker under cProfile and write the stats here")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    if not 1 <= args.digests <= 100_000:
        parser.error("--digests must be between 1 and 100000")
    kinds = [kind.strip() for kind in args.databases.split(",") if kind.strip()]
    if unknown := set(kinds) - {"sqlite", "postgres"}:
        parser.error(f"--databases: unknown {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as scratch:
        for kind in kinds:
            url = _common.fresh_database(kind, pathlib.Path(scratch), "deliver")
            try:
                asyncio.run(run(url, kind, args.digests, args.sessions, args.profile))
            finally:
                _common.drop_database(url)


if __name__ == "__main__":
    main()
