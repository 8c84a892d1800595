"""Folding throughput: the pipeline draining a backlog of stored events, one event per transaction
against groups of events per transaction (engine.constants.PIPELINE_GROUP_SIZE).

For each database and group size: a fresh migrated database, N VAT returns over 200 firms stored
first (the shape of bench/sustained.py's load: each firm's first return makes ~70 decisions, later
ones rarely change any), then one timed `Pipeline.run_once()` with the real catalogue matcher
(`engine.catalogue.default_matcher()`), until nothing is pending, with start-up frozen out of the
garbage collector as in `serve` (engine.telemetry.collector). Group size 1 is the baseline:
what the pipeline did before it grouped events. Prints a Markdown table for docs/performance.md.

    .venv/bin/python bench/fold.py [--events 600 2000] [--database sqlite|postgres ...] [--group-sizes 1 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

from _common import drop_database, fresh_database

from connectors import sql_storage
from engine import constants
from engine.ingest import admission, pipeline, validation
from engine.judging import catalogue
from engine.telemetry import collector
from tests import factories

FIRMS = 200


def events(count: int) -> list:
    firms = [factories.uscc(n) for n in range(1, FIRMS + 1)]
    stored = []
    for i in range(count):
        body = factories.event("tax.vat_declared", firm=firms[i % FIRMS], period=f"20{10 + i // FIRMS % 13}-{i % 12 + 1:02d}", sales=1000 + i)
        envelope = validation.validate(body, webhook_id=f"fold-{i}")
        stored.append(admission.new_event(envelope, json.dumps(body, ensure_ascii=False), {"webhook-id": f"fold-{i}"}))
    return stored


async def fold(url: str, backlog: list, matcher, group_size: int) -> tuple[float, float]:
    """Seconds `run_once` takes to fold the whole backlog, and the CPU seconds this process spent on it
    (its event loop and aiosqlite's thread; not PostgreSQL's backends)."""
    store = sql_storage.SqlStorage(url)
    await store.open()
    try:
        await store.add_events(backlog)
        started, cpu = time.perf_counter(), time.process_time()
        handled = await pipeline.Pipeline(store, matcher, group_size=group_size).run_once()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert handled == len(backlog) and await store.count_pending_events() == 0
        return elapsed, cpu
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[600, 2000], help="backlog sizes")
    parser.add_argument("--database", choices=["sqlite", "postgres"], action="append", help="repeatable (default: both)")
    parser.add_argument("--group-sizes", type=int, nargs="+", default=[1, constants.PIPELINE_GROUP_SIZE])
    parser.add_argument("--rounds", type=int, default=3, help="runs per cell, alternating group sizes; the median is shown")
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    matcher = catalogue.default_matcher()
    collector.freeze_start_up()  # as `serve` and `worker` do once started: folding runs in such a process
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for kind in args.database or ["sqlite", "postgres"]:
            for count in args.events:
                backlog = events(count)
                seconds: dict[int, list[float]] = {size: [] for size in args.group_sizes}
                for round_ in range(args.rounds):
                    for size in args.group_sizes:
                        url = fresh_database(kind, pathlib.Path(workdir), f"fold_{count}_{size}_{round_}")
                        try:
                            elapsed, cpu = asyncio.run(fold(url, backlog, matcher, size))
                        finally:
                            drop_database(url)
                        seconds[size].append(elapsed)
                        print(f"{kind} {count} events, group {size}: {count / elapsed:,.0f}/s, "
                              f"{cpu / count * 1e6:,.0f} µs of this process's CPU per event", flush=True)
                base = count / statistics.median(seconds[args.group_sizes[0]])
                for size in args.group_sizes:
                    rate = count / statistics.median(seconds[size])
                    rows.append(f"| {kind} | {count:,} | {size} | {rate:,.0f} | {rate / base:.1f}× |")
    print(f"\nCommand: `{' '.join(['.venv/bin/python', 'bench/fold.py', *sys.argv[1:]])}`\n")
    print(f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}; load average before the run {load}. "
          f"Median of {args.rounds} rounds.\n")
    print("| database | events | group size | events folded/s | vs group size 1 |\n|---|--:|--:|--:|--:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
