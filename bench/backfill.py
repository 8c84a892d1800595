"""Backfill at province scale: N synthetic firms × the full catalogue, wall time, firms/s, peak memory.

For each size it runs the real command (``policy-push backfill --all --json``) as a separate
process tree against a SQLite file and samples the summed RSS of the parent and its worker
processes. Three runs per size, on a copy of the same database:

* ``dry-run``: the preview an operator runs first; profiles only, nothing stored yet;
* ``first``:   the real run on a database with no decisions: every in-scope outcome is recorded
               with its explanation, audit entry and notices (a measure switched on province-wide);
* ``again``:   the same real run once more: the steady state after a correction, where almost
               everything is confirmed and nothing is written.

Baseline, measured in the same run: re-judging firm by firm the straightforward way, in one
process — load the firm's stored decisions, ``matcher.match`` on every clause with full
explanations, then ``changed_decisions`` — over the first firms of the same database; the ratio
says what the batches, the two-tier judge and the worker processes buy.

The databases hold firm profiles folded from ``engine.synth`` events with the pipeline's own fold
(``folding.assignments`` + ``profile.apply_assignments``); events and provenance rows are not
stored (bench/ingest.py and bench/sustained.py measure that path). The first 1,000 firms' events
are also put through the webhook's validator. Built databases are cached under var/bench/.

Usage: ``.venv/bin/python bench/backfill.py [--firms 10000 100000 1000000] [--as-of 2022-07-15]
[--workers N] [--runs dry-run first again] [--baseline-firms 3000] [--real-max-firms 100000]``;
``--stages`` prints the cost per firm of each stage of a worker's batch instead.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors import sql_migrate as migrate
from connectors import sql_models as models
from engine.core import profile
from engine.ingest import folding, synth, validation
from engine.ingest.event_types import REGISTRY
from engine.judging import catalogue, firm_input, recording
from engine.judging.catalogue import durable

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench"
SEED = 1
VALIDATED_FIRMS = 1_000
CHUNK = 2_000


# Building the database ---------------------------------------------------------------------------


def _fold_chunk(bounds: tuple[int, int]) -> list[tuple[Any, ...]]:
    """Firm rows for synth firms [start, stop): the pipeline's fold over their events."""
    rows = []
    now = _sqlite_time(dt.datetime.now(dt.UTC))
    for index in range(*bounds):
        firm, events = synth.firm_events(SEED, index)
        fields: dict[str, Any] = {}
        stamps: dict[str, list[str]] = {}
        for event in events:
            envelope = validation.validate(event) if index < VALIDATED_FIRMS else validation.Envelope(
                type=event["type"], occurred_at=dt.datetime.fromisoformat(event["occurred_at"]),
                uscc=event["uscc"], data=event["data"], id=event["id"],
            )
            stamp = profile.stamp_of(envelope.occurred_at, envelope.id)
            profile.apply_assignments(fields, stamps, folding.assignments(envelope), stamp)
        rows.append((firm.uscc, fields.get("region"), json.dumps(fields, ensure_ascii=False),
                     json.dumps(stamps), len(events), now, now))
    return rows


def _sqlite_time(moment: dt.datetime) -> str:
    """A UTC instant as SQLAlchemy stores DateTime on SQLite."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def build(firms: int) -> Path:
    """The cached database of ``firms`` synthetic firms (built in parallel on first use)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"backfill-{firms}-seed{SEED}.sqlite3"
    if path.exists():
        migrate.upgrade(f"sqlite+aiosqlite:///{path}")  # cached under an older schema: brought up to date
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    migrate.upgrade(f"sqlite+aiosqlite:///{partial}")
    started = time.perf_counter()
    db = sqlite3.connect(partial)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # a cache rebuilt from scratch if interrupted
    for event in synth.region_events(SEED):
        body = json.dumps(event, ensure_ascii=False)
        db.execute("INSERT INTO event (event_id, type, uscc, occurred_at, received_at, body, body_sha256, headers, status)"
                   " VALUES (?, ?, NULL, ?, ?, ?, '', '{}', 'processed')",
                   (event["id"], event["type"], *[_sqlite_time(dt.datetime.fromisoformat(event["occurred_at"]))] * 2, body))
        data = event["data"]
        db.execute("INSERT INTO region_designation (county, kind, year, level, event_id) VALUES (?, ?, ?, ?, ?)",
                   (*REGISTRY.get(event["type"]).designate(data), event["id"]))
    chunks = [(start, min(start + CHUNK, firms)) for start in range(0, firms, CHUNK)]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 1) as pool:
        for rows in pool.imap(_fold_chunk, chunks):
            db.executemany("INSERT INTO firm (uscc, region, fields, stamps, events_applied, created_at, updated_at)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    partial.rename(path)
    print(f"  built {path.name}: {firms:,} firms in {time.perf_counter() - started:.0f} s", flush=True)
    return path


# Measuring -----------------------------------------------------------------------------------


def _tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack += [int(child) for child in children.read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_backfill(url: str, arguments: list[str]) -> dict[str, Any]:
    """Run ``policy-push backfill --json …`` against ``url`` as its own process tree: its report, wall time,
    the tree's peak RSS (sampled every 0.2 s) and the CPU seconds the tree used."""
    command = [sys.executable, "-m", "engine.cli", "--log-level", "WARNING", "backfill", "--json", *arguments]
    env = {**os.environ, "POLICY_PUSH_DATABASE_URL": url}
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.2):
            peak = max(peak, _tree_rss(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the tree, reaped by communicate()
    if process.returncode != 0:
        raise SystemExit(f"backfill failed ({process.returncode}):\n{err[-3000:]}")
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return {"wall": wall, "peak_rss": peak, "cpu": cpu, "report": json.loads(out)}


def backfill(database: Path, as_of: str, workers: int | None, *, dry_run: bool) -> dict[str, Any]:
    """Run ``policy-push backfill --all`` on a SQLite file (see ``run_backfill``)."""
    arguments = ["--all", "--as-of", as_of, *(["--dry-run"] if dry_run else [])]
    if workers is not None:
        arguments += ["--workers", str(workers)]
    return run_backfill(f"sqlite+aiosqlite:///{database}", arguments)


def _size(database: Path) -> int:
    """Bytes of a SQLite database with its write-ahead log."""
    return sum(Path(f"{database}{suffix}").stat().st_size for suffix in ("", "-wal") if Path(f"{database}{suffix}").exists())


def baseline(database: Path, as_of: dt.date, firms: int) -> float:
    """Firms/s of the straightforward per-firm path over the first ``firms`` firms, one process."""
    from connectors import sql_storage

    matcher = catalogue.default_matcher()
    assert isinstance(matcher, durable.DurableMatcher)
    firm = models.Firm.__table__

    async def _run() -> float:
        target = sql_storage.SqlStorage(f"sqlite+aiosqlite:///{database}")
        await target.open()
        try:
            started = time.perf_counter()
            judged = 0
            async for after, upto in target.batch_bounds(500):
                async with target.read() as connection:
                    rows = (await connection.execute(
                        sa.select(firm.c.uscc, firm.c.fields, firm.c.region)
                        .where((firm.c.uscc > after) & (firm.c.uscc <= upto)).order_by(firm.c.uscc)
                    )).all()
                for uscc, fields, region in rows:
                    stored = await target.decisions(uscc)
                    county = await target.designations(region) if region else frozenset()
                    context = recording.match_context(county, stored)
                    recording.changed_decisions(matcher.match(profile.nest(uscc, fields), as_of, context), context.previous)
                    judged += 1
                if judged >= firms:
                    break
            return judged / (time.perf_counter() - started)
        finally:
            await target.close()

    return asyncio.run(_run())


def stages(database: Path, as_of: dt.date, batches: int = 4) -> list[tuple[str, float]]:
    """Microseconds per firm of each stage of a worker's batch, one process, over ``batches`` batches."""
    from connectors import sql_storage
    from engine.backfill import preview
    from engine.judging import judge

    matcher = catalogue.default_matcher()
    judged = judge.Judge(matcher, as_of)

    async def _read() -> tuple[list[Any], Any, float]:
        target = sql_storage.SqlStorage(f"sqlite+aiosqlite:///{database}")
        await target.open()
        try:
            firms, batch, seconds = [], None, 0.0
            async for after, upto in target.batch_bounds(500):
                started = time.perf_counter()
                batch = await target.firm_batch(after, upto, judged.clause_ids, ())
                seconds += time.perf_counter() - started
                firms += batch.firms
                if len(firms) >= batches * 500:
                    break
            return firms, batch, seconds
        finally:
            await target.close()

    async def _whole() -> float:
        from engine.backfill import runner

        target = sql_storage.SqlStorage(f"sqlite+aiosqlite:///{database}")
        await target.open()
        try:
            judged_firms, seconds = 0, 0.0
            async for after, upto in target.batch_bounds(500):
                started = time.perf_counter()
                result = await runner.judge_batch(target, judged, after, upto, dry_run=True, list_changes=0)
                seconds += time.perf_counter() - started
                judged_firms += result.tally.firms
                if judged_firms >= batches * 500:
                    break
            return seconds / judged_firms * 1e6
        finally:
            await target.close()

    firms, batch, read_seconds = asyncio.run(_read())
    whole_us = asyncio.run(_whole())
    prepared = {f.uscc: judged.attributes(f) for f in firms}
    outcomes = {f.uscc: judged.outcomes(f)[0] for f in firms}
    tally = preview.Tally()

    def timed(action: Any) -> float:
        started = time.perf_counter()
        for firm in firms:
            action(firm)
        return (time.perf_counter() - started) / len(firms) * 1e6

    engine_us = timed(lambda f: judged._engine_met(*prepared[f.uscc]))
    changes = {f.uscc: judged.changes(f)[1] for f in firms}
    return [
        ("read the batch (firms, latest decision per clause)", read_seconds / len(firms) * 1e6),
        ("derive attributes (inputs.prepare)", timed(judged.attributes)),
        ("durable-rules: fact, assert, drain, retract", engine_us),
        ("  of which building the fact JSON", timed(lambda f: judged.engine.facts.encode(prepared[f.uscc][0], as_of, prepared[f.uscc][1]))),
        ("all outcomes (the three rows above but reading, plus verdicts)", timed(judged.outcomes)),
        ("the preview's counters", timed(lambda f: tally.count_firm(f, outcomes[f.uscc], judged, batch))),
        ("a worker's whole dry-run batch (read, judge, count)", whole_us),
        # A first real run: every in-scope outcome changes, so each is explained, then encoded for the writer.
        ("a first run's judging: outcomes, and the changed ones explained", timed(judged.changes)),
        ("  then encoding them as JSON text (firm_input.encoded)",
         timed(lambda f: firm_input.encoded(changes[f.uscc]))),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--firms", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--as-of", default="2022-07-15", help="inside most measures' windows")
    parser.add_argument("--workers", type=int, default=None, help="backfill worker processes (default: one per CPU)")
    parser.add_argument("--runs", nargs="+", default=["dry-run", "first", "again"], choices=["dry-run", "first", "again"])
    parser.add_argument("--baseline-firms", type=int, default=3_000)
    parser.add_argument("--real-max-firms", type=int, default=100_000,
                        help="skip the real runs (first, again) above this size: a first run records every outcome")
    parser.add_argument("--stages", action="store_true", help="only print the per-stage cost per firm (one process)")
    args = parser.parse_args()
    if args.stages:
        for name, micros in stages(build(min(args.firms)), dt.date.fromisoformat(args.as_of)):
            print(f"  {name:<66} {micros:7.0f} µs/firm")
        return
    print(f"backfill benchmark: python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
          f"command: {' '.join([Path(sys.executable).name, *sys.argv])}", flush=True)
    rows = []
    base_rate = None
    for firms in args.firms:
        pristine = build(firms)
        work = CACHE / f"work-{firms}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{work}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(pristine, work)
        if base_rate is None:
            base_rate = baseline(work, dt.date.fromisoformat(args.as_of), min(args.baseline_firms, firms))
            print(f"  baseline (per firm, full explanations, 1 process): {base_rate:,.0f} firms/s", flush=True)
        for run in args.runs:
            if run != "dry-run" and firms > args.real_max_firms:
                continue
            size_before = _size(work)
            figures = backfill(work, args.as_of, args.workers, dry_run=run == "dry-run")
            report = figures["report"]
            rate = report["firms"] / figures["wall"]
            # What the run added to the database (file and WAL), per firm: decisions, notices, audit, indexes.
            grown = (_size(work) - size_before) / report["firms"]
            rows.append((firms, run, figures["wall"], rate, rate / base_rate, figures["peak_rss"], report, grown))
            print(f"  {firms:>9,} {run:<8} {figures['wall']:8.1f} s {rate:9,.0f} firms/s {rate / base_rate:6.1f}x "
                  f"peak {figures['peak_rss'] / 2**20:7.0f} MiB  changes {report['changes']:,} recorded {report['recorded']:,} "
                  f"notices {report['notices_created'] or sum(report['notices'].values()):,}  "
                  f"database +{grown:,.0f} bytes/firm (profiles before: {size_before / firms:,.0f})", flush=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{work}{suffix}").unlink(missing_ok=True)
    print()
    print(f"| firms | run | wall time | firms/s | vs baseline ({base_rate:,.0f} firms/s) | peak RSS (all processes) | decisions recorded | notices created | database grew |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for firms, run, wall, rate, ratio, peak, report, grown in rows:
        notices = report["notices_created"] if run != "dry-run" else sum(report["notices"].values())
        recorded = report["recorded"] if run != "dry-run" else report["changes"]
        print(f"| {firms:,} | {run} | {wall:.1f} s | {rate:,.0f} | {ratio:.1f}× | {peak / 2**20:,.0f} MiB | "
              f"{recorded:,}{' (would)' if run == 'dry-run' else ''} | {notices:,}{' (would)' if run == 'dry-run' else ''} | "
              f"{grown:,.0f} bytes/firm |")


if __name__ == "__main__":
    main()
