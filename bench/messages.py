"""Messages per firm: how many SMS and emails the demo set's firms receive, end to end.

The real path: a fresh SQLite database, `policy-push synth` (the demo's synthetic firms and their
events, as `make run` loads them), `policy-push serve --no-delivery` folding and judging them, then
the delivery worker (real composer, file connectors, quiet hours off, its clock a day ahead so every
firm's digest window (POLICY_PUSH_DIGEST_QUIET_MINUTES, at most POLICY_PUSH_DIGEST_LONGEST_HOURS) has
closed) sending everything due. What the firms receive is counted from the files written (one
`.sms.json` or `.eml` per message sent).

Printed, per channel: messages sent, firms reached, messages per firm (median, p95, max); two
per-clause counts of the same run and the ratio to each: one message per notice row (how notices went
out before digests) and one SMS and one email per met item (before SMS was kept for concrete benefits);
and the delivery throughput (messages and notices per second). The events are dated 2022, so the staleness allowance is off here: every item
counts as pushable, the most a firm could receive.

    .venv/bin/python bench/messages.py [--firms 300] [--seed 1]

With ``--backfill N`` it measures a first real backfill of N synthetic firms instead (the database
bench/backfill.py builds and caches, ``policy-push backfill --all`` as a process, the digest window as
configured by default): every digest the delivery worker's claim forms (``claim_due_digests``, the
real grouping, its clock a day ahead) is one message; composing and sending them is what the demo
run above times, so here the messages are counted at the claim, not written.

    .venv/bin/python bench/messages.py --backfill 100000 [--as-of 2022-07-15]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import datetime
import json
import os
import shutil
import pathlib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _common  # noqa: E402  (bench/_common.py, beside this script)
import backfill as backfill_bench  # noqa: E402  (bench/backfill.py: the cached synthetic databases)
from connectors import sql_storage  # noqa: E402
from engine import constants, settings  # noqa: E402
from engine.judging import catalogue  # noqa: E402
from engine.notices import compose, worker  # noqa: E402
from engine.web import senders  # noqa: E402

#: How long the service may take to fold the demo set before the bench gives up.
FOLD_LIMIT_SECONDS = 900


def environment(workdir: pathlib.Path) -> dict[str, str]:
    return {
        **os.environ,
        "POLICY_PUSH_DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite'}",
        "POLICY_PUSH_OUTBOX_DIR": str(workdir / "outbox"),
        "POLICY_PUSH_SECRET_KEY": "bench-messages-key-0123456789abcdef",
        "POLICY_PUSH_SMS_QUIET_HOURS": "off",
        "POLICY_PUSH_STALE_AFTER_DAYS": "off",
        # The file connectors write locally: the providers' rate limits are not what is measured here.
        "POLICY_PUSH_SMS_PER_SECOND": "100000",
        "POLICY_PUSH_EMAIL_PER_SECOND": "100000",
    }


def cli(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "engine.cli", "--log-level", "WARNING", *args], env=env, check=True,
                   cwd=ROOT, stdout=subprocess.DEVNULL)


def fold(env: dict[str, str], database: pathlib.Path) -> float:
    """Serve without delivery until every stored event is processed; return the seconds it took."""
    port = _common.free_port()
    started = time.perf_counter()
    process = _common.start([sys.executable, "-m", "engine.cli", "--log-level", "WARNING", "serve", "--no-delivery",
                             "--port", str(port)], env)
    try:
        while time.perf_counter() - started < FOLD_LIMIT_SECONDS:
            with sqlite3.connect(database) as connection:
                left = connection.execute("SELECT count(*) FROM event WHERE status = 'received'").fetchone()[0]
            if left == 0:
                return time.perf_counter() - started
            if process.poll() is not None:
                raise SystemExit(f"the service stopped with code {process.returncode}")
            time.sleep(0.5)
        raise SystemExit("the service did not fold the demo set in time")
    finally:
        _common.stop(process)


async def deliver(env: dict[str, str]) -> float:
    """Send everything due through the real worker; return the seconds it took."""
    config = settings.Settings.from_env(env)
    store = sql_storage.SqlStorage.configured(config)
    await store.open()
    try:
        # A day ahead: every firm's digest window has closed, so what it receives is one window's worth.
        ahead = datetime.timedelta(hours=constants.DIGEST_LONGEST_HOURS, minutes=1)
        delivery = worker.DeliveryWorker(
            store, compose.Composer(catalogue.default_matcher().catalogue, config.notices),
            senders.build_channels(config.notices, {}),
            clock=lambda: datetime.datetime.now(datetime.UTC) + ahead,
        )
        started = time.perf_counter()
        while await delivery.run_once():
            pass
        return time.perf_counter() - started
    finally:
        await store.close()


@dataclasses.dataclass
class Tally:
    """Messages per channel and per firm, and the items behind them."""

    per_firm: dict[str, collections.Counter[str]] = dataclasses.field(
        default_factory=lambda: {"sms": collections.Counter(), "email": collections.Counter()})
    items: int = 0
    notices: int = 0


def count(database: pathlib.Path, outbox: pathlib.Path) -> Tally:
    tally = Tally()
    with sqlite3.connect(database) as connection:
        firm_of = dict(connection.execute("SELECT notice_id, uscc FROM notice"))
        # An item: one benefit (or one change of its amount) a firm is told of, whatever the channels.
        tally.items = connection.execute(
            "SELECT count(*) FROM (SELECT DISTINCT uscc, clause_id, period, revision FROM notice)").fetchone()[0]
        tally.notices = connection.execute("SELECT count(*) FROM notice").fetchone()[0]
    for path in outbox.iterdir() if outbox.exists() else ():
        message_id, _, suffix = path.name.partition(".")
        channel = "sms" if suffix == "sms.json" else "email" if suffix == "eml" else None
        if channel is not None:
            tally.per_firm[channel][firm_of[message_id]] += 1
    return tally


async def claim_all(env: dict[str, str]) -> tuple[Tally, float]:
    """Claim every due digest, as the worker would a day after the backfill; count them per firm and channel."""
    config = settings.Settings.from_env(env)
    store = sql_storage.SqlStorage.configured(config)
    await store.open()
    tally = Tally()
    at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=constants.DIGEST_LONGEST_HOURS, minutes=1)
    started = time.perf_counter()
    try:
        for channel in ("sms", "email"):
            while digests := await store.claim_due_digests(at, 500, datetime.timedelta(hours=1), (channel,)):
                for digest in digests:
                    tally.per_firm[channel][digest[0].uscc] += 1
                    tally.notices += len(digest)
    finally:
        await store.close()
    return tally, time.perf_counter() - started


def run_backfill(firms: int, as_of: str) -> dict:
    pristine = backfill_bench.build(firms)
    with tempfile.TemporaryDirectory(prefix="bench-messages-") as tmp:
        work = pathlib.Path(tmp) / "work.sqlite3"
        shutil.copyfile(pristine, work)
        env = environment(pathlib.Path(tmp))
        env["POLICY_PUSH_DATABASE_URL"] = f"sqlite:///{work}"
        for name in ("POLICY_PUSH_DIGEST_QUIET_MINUTES", "POLICY_PUSH_DIGEST_LONGEST_HOURS"):
            env.pop(name, None)  # the window as configured by default
        cli(env, "db", "upgrade")
        # bench/backfill.py runs the command in this process's environment: the same allowances as the demo run.
        os.environ["POLICY_PUSH_STALE_AFTER_DAYS"] = "off"
        figures = backfill_bench.backfill(work, as_of, None, dry_run=False)
        tally, claim_seconds = asyncio.run(claim_all(env))
        with sqlite3.connect(work) as connection:
            tally.items = connection.execute(
                "SELECT count(*) FROM (SELECT DISTINCT uscc, clause_id, period, revision FROM notice)").fetchone()[0]
            notices = connection.execute("SELECT count(*) FROM notice").fetchone()[0]
    return {"firms": firms, "as_of": as_of, "backfill_seconds": round(figures["wall"], 1), "notices": notices,
            "digested_notices": tally.notices, "tally": tally, "claim_seconds": round(claim_seconds, 1)}


def per_firm(counter: collections.Counter[str]) -> dict:
    """Messages on a channel, firms reached, and messages per firm reached (median, p95, max)."""
    return {
        "messages": sum(counter.values()), "firms_reached": len(counter),
        "per_firm_median": statistics.median(counter.values()) if counter else 0,
        "per_firm_p95": quantile(list(counter.values()), 0.95), "per_firm_max": max(counter.values(), default=0),
    }


def quantile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backfill", type=int, default=None, metavar="FIRMS", help="measure a first backfill of FIRMS firms")
    parser.add_argument("--as-of", default="2022-07-15", help="the backfill's date (inside most measures' windows)")
    args = parser.parse_args()
    if args.backfill is not None:
        found = run_backfill(args.backfill, args.as_of)
        tally = found.pop("tally")
        total = {channel: sum(counter.values()) for channel, counter in tally.per_firm.items()}
        print(json.dumps({
            **found, "items": tally.items,
            "channels": {channel: per_firm(counter) for channel, counter in tally.per_firm.items()},
            "messages": sum(total.values()),
            "fewer_than_one_message_per_notice": round(found["notices"] / max(1, sum(total.values())), 2),
            "per_clause_messages": 2 * tally.items,
            "fewer_than_per_clause": round(2 * tally.items / max(1, sum(total.values())), 2),
        }, ensure_ascii=False, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="bench-messages-") as tmp:
        workdir = pathlib.Path(tmp)
        env = environment(workdir)
        cli(env, "db", "upgrade")
        cli(env, "synth", "--firms", str(args.firms), "--seed", str(args.seed))
        folded = fold(env, workdir / "bench.sqlite")
        sent_seconds = asyncio.run(deliver(env))
        tally = count(workdir / "bench.sqlite", workdir / "outbox")
    total = {channel: sum(counter.values()) for channel, counter in tally.per_firm.items()}
    per_clause = 2 * tally.items
    report = {
        "firms": args.firms, "seed": args.seed, "fold_seconds": round(folded, 1),
        "items": tally.items,
        "channels": {channel: per_firm(counter) for channel, counter in tally.per_firm.items()},
        "messages": sum(total.values()),
        "notices": tally.notices,
        "fewer_than_one_message_per_notice": round(tally.notices / max(1, sum(total.values())), 2),
        "per_clause_messages": per_clause,
        "fewer_than_per_clause": round(per_clause / max(1, sum(total.values())), 2),
        "delivery_seconds": round(sent_seconds, 2),
        "messages_per_second": round(sum(total.values()) / sent_seconds, 1) if sent_seconds else None,
        "notices_per_second": round(tally.notices / sent_seconds, 1) if sent_seconds else None,
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
