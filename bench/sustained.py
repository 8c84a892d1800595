"""Sustained open-loop ingestion: signed webhooks at fixed rates, the real service beside a baseline.

For each database and each target rate, the real service (`engine.cli serve`) and the bare aiohttp
baseline (bench/baseline_server.py) each get a fresh, migrated database and their own process;
this process is the load generator. Requests are signed before the clock starts and sent on a
fixed timetable (request i is due at start + i/rate) whatever the server answers, over a generous
connection pool, and each latency is counted from the request's *due* time, so a server that falls
behind is charged for the queue it causes (no coordinated omission). For the service, the
pipeline backlog left at the end of the load and the time it takes to drain are read from
GET /metrics. With `--fold-workers 0 1`, the service is measured twice: folding in `serve` (as
`make run` runs it), and with `serve --no-folding` beside one `policy-push worker --fold` process.
Prints Markdown tables for docs/performance.md, the machine facts and the command.

    .venv/bin/python bench/sustained.py [--database sqlite|postgres ...] [--rates 500 1000 2000]
        [--seconds 20] [--connections 1000] [--timeout 10] [--drain-timeout 15] [--fold-workers 0 1]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import math
import os
import pathlib
import platform
import re
import shlex
import sys
import tempfile
import time
import typing

import aiohttp
from _common import PG_ADMIN, ROOT, generator_collector_paused, serving, signed_requests
from ingest import load as closed_loop_load

WARM_UP_EVENTS = 200
#: The targets of issue 16, item 5, checked for the service at each rate (the baseline is the yardstick).
TARGET_P99_SECONDS = 0.050
TARGET_DRAIN_SECONDS = 10.0
DRAIN_POLL_SECONDS = 0.5
SCRAPE_TIMEOUT_SECONDS = 30
UNACKED = math.inf  # the time-to-acknowledgement of a request that never got a 2xx

Request = tuple[bytes, dict[str, str]]


@dataclasses.dataclass
class Run:
    database: str
    server: str
    offered: float
    server_pid: int | None = None
    sent: int = 0
    acked: int = 0
    achieved: float = 0.0
    latencies: list[float] = dataclasses.field(default_factory=list)  # seconds from due time to 2xx; UNACKED otherwise
    failures: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    send_lag_p99: float = 0.0  # how late the generator itself started requests: its own health
    server_cores: float | None = None
    fold_worker_pids: list[int] = dataclasses.field(default_factory=list)
    fold_cores: float | None = None  # the fold workers' CPU together, when folding runs in processes of its own
    generator_cores: float = 0.0
    drain: Drain | None = None  # the service's pipeline backlog after the load
    stored_unacked: int | None = None  # committed by the service, but the sender never saw the 2xx

    def quantile(self, q: float, acked_only: bool = False) -> float:
        ordered = sorted(latency for latency in self.latencies if not (acked_only and latency == UNACKED))
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


async def send(session: aiohttp.ClientSession, url: str, request: Request, due: float) -> tuple[str, float, float]:
    """One delivery; returns (outcome, seconds from due time to the answer, seconds it started late)."""
    started_late = time.perf_counter() - due
    body, headers = request
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            outcome = "2xx" if 200 <= response.status < 300 else f"HTTP {response.status}"
    except TimeoutError:
        outcome = "timeout"
    except (aiohttp.ClientError, OSError) as exc:
        outcome = type(exc).__name__
    return outcome, time.perf_counter() - due, started_late


async def open_loop(port: int, requests: list[Request], rate: float, connections: int, timeout: float, run: Run) -> None:
    """Send `requests` at `rate` per second on a fixed timetable and record the outcomes into `run`."""
    url = f"http://127.0.0.1:{port}/webhooks/events"
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        cpu_before, server_cpu_before = time.process_time(), process_cpu_seconds(run.server_pid)
        fold_cpu_before = [process_cpu_seconds(pid) for pid in run.fold_worker_pids]
        start = time.perf_counter() + 0.05
        tasks = []
        for index, request in enumerate(requests):
            due = start + index / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            # Launched on time whether or not earlier requests have been answered: this is the open loop.
            tasks.append(asyncio.create_task(send(session, url, request, due)))
        outcomes = await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
        run.generator_cores = (time.process_time() - cpu_before) / wall
        if server_cpu_before is not None and (server_cpu_after := process_cpu_seconds(run.server_pid)) is not None:
            run.server_cores = (server_cpu_after - server_cpu_before) / wall
        fold_cpu_after = [process_cpu_seconds(pid) for pid in run.fold_worker_pids]
        if run.fold_worker_pids and None not in fold_cpu_before + fold_cpu_after:
            run.fold_cores = sum(after - before for before, after in zip(fold_cpu_before, fold_cpu_after, strict=True)) / wall
    last_ack = start
    for index, (outcome, latency, _) in enumerate(outcomes):
        if outcome == "2xx":
            run.acked += 1
            run.latencies.append(latency)
            last_ack = max(last_ack, start + index / rate + latency)
        else:
            run.failures[outcome] += 1
            run.latencies.append(UNACKED)
    run.sent = len(outcomes)
    # Acknowledgements per second over the load, stretched to the last 2xx if answers trailed on.
    run.achieved = run.acked / max(len(requests) / rate, last_ack - start)
    lags = sorted(lag for _, _, lag in outcomes)
    run.send_lag_p99 = lags[max(0, math.ceil(0.99 * len(lags)) - 1)]


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process `pid` so far, from /proc (None where there is no /proc)."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Scrape(typing.NamedTuple):
    """The service's own view of its queue, from GET /metrics."""

    at: float  # time.perf_counter() when it answered
    pending: int  # events stored, not yet folded
    accepted: int  # events stored since the process started


async def scrape(port: int) -> Scrape | None:
    """None when the service did not answer in time (an overloaded one may not)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_SECONDS)) as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
    except (TimeoutError, aiohttp.ClientError, OSError):
        return None
    if "\npolicy_push_events_pending " not in text:  # left out of a scrape when storage could not be read
        return None

    def total(pattern: str) -> int:
        return int(sum(float(value) for value in re.findall(rf"^{pattern} (\S+)$", text, re.MULTILINE)))

    return Scrape(
        at=time.perf_counter(),
        pending=total("policy_push_events_pending"),
        accepted=total(r'policy_push_events_received_total\{[^}]*result="accepted"[^}]*\}'),
    )


@dataclasses.dataclass
class Drain:
    backlog: int | None  # events pending at the first scrape after the load
    seconds: float | None  # until the backlog reached 0; None if it did not
    left: int | None
    folding: float | None  # events folded per second while waiting
    accepted: int | None  # the service's count of events stored, at the end of the wait


async def drain(port: int, timeout: float) -> Drain:
    """Wait until the service has folded every stored event, for at most `timeout` seconds."""
    began = time.perf_counter()
    first = last = await scrape(port)
    while (last is None or last.pending > 0) and time.perf_counter() - began < timeout:
        await asyncio.sleep(DRAIN_POLL_SECONDS)
        last = await scrape(port) or last
    if first is None or last is None:
        return Drain(None, None, None, None, None)
    # What left the backlog, plus what joined it meanwhile (requests the generator had given up on may
    # still be stored), was folded: in the service or in a fold worker, whose counters this scrape lacks.
    folded = first.pending - last.pending + last.accepted - first.accepted
    folding = folded / (last.at - first.at) if last.at > first.at else None
    return Drain(first.pending, last.at - began if last.pending == 0 else None, last.pending, folding, last.accepted)


def server_label(server: str, fold_workers: int) -> str:
    """How the tables name a server: the service with where it folds."""
    if server == "baseline" or not fold_workers:
        return server
    return f"service + {fold_workers} fold worker{'s' if fold_workers > 1 else ''}"


def measure(kind: str, server: str, rate: float, args: argparse.Namespace, workdir: pathlib.Path, fold_workers: int = 0) -> Run:
    run = Run(database=kind, server=server_label(server, fold_workers), offered=rate)
    with serving(server, kind, workdir, fold_workers=fold_workers) as (port, process, folders):
        run.server_pid, run.fold_worker_pids = process.pid, [folder.pid for folder in folders]
        warm_up = signed_requests(WARM_UP_EVENTS, f"warm_{server}")
        asyncio.run(closed_loop_load(port, warm_up, 16))
        if server == "service":  # start the timed load with an empty pipeline
            asyncio.run(drain(port, args.drain_timeout))
        requests = signed_requests(int(rate * args.seconds), server)  # signed before the clock starts
        with generator_collector_paused():
            asyncio.run(open_loop(port, requests, rate, args.connections, args.timeout, run))
        if server == "service":
            run.drain = asyncio.run(drain(port, args.drain_timeout))
            if run.drain.accepted is not None:
                run.stored_unacked = run.drain.accepted - WARM_UP_EVENTS - run.acked
    return run


# Rendering --------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    return "∞" if seconds == UNACKED else f"{seconds * 1000:,.0f}" if seconds >= 1 else f"{seconds * 1000:.1f}"


def ratio(service: float, baseline: float) -> str:
    if math.isinf(service) or math.isinf(baseline) or not baseline:
        if math.isinf(service) != math.isinf(baseline):
            return "∞" if math.isinf(service) else "< 1×"
        return "n/a"
    return f"{service / baseline:.2f}×"


def failures(run: Run) -> str:
    return ", ".join(f"{kind} {count:,}" for kind, count in run.failures.most_common()) or "0"


def count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def drained(drain: Drain) -> str:
    if drain.seconds is not None:
        return f"{drain.seconds:.1f} s"
    if drain.left is None:
        return "n/a (no answer from /metrics)"
    if not drain.folding:
        return f"not drained: {drain.left:,} left, nothing folded"
    return f"not drained: {drain.left:,} left, folding {drain.folding:,.0f}/s, ≈ {drain.left / drain.folding:,.0f} s more"


def tables(runs: list[Run], args: argparse.Namespace) -> str:
    by_key = {(run.database, run.offered, run.server): run for run in runs}
    lines = [
        "| database | offered/s | server | achieved 2xx/s | p50 ms | p90 ms | p99 ms | max ms | not acknowledged | "
        "rate svc/base | p99 svc/base |",
        "|---|--:|---|--:|--:|--:|--:|--:|---|--:|--:|",
    ]
    for run in runs:
        base = by_key.get((run.database, run.offered, "baseline"))
        compared = run.server != "baseline" and base is not None
        lines.append(
            f"| {run.database} | {run.offered:,.0f} | {run.server} | {run.achieved:,.0f} | {ms(run.quantile(0.50))} | "
            f"{ms(run.quantile(0.90))} | {ms(run.quantile(0.99))} | {ms(run.quantile(1.0))} | {failures(run)} | "
            f"{ratio(run.achieved, base.achieved) if compared else ''} | "
            f"{ratio(run.quantile(0.99), base.quantile(0.99)) if compared else ''} |"
        )
    lines += [
        "",
        "| database | offered/s | server | sent | p99 of 2xx ms | server CPU (cores) | fold workers CPU (cores) | "
        "generator CPU (cores) | generator lag p99 ms | backlog at end | drain | stored, unacknowledged |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|---|--:|",
    ]
    for run in runs:
        drain = run.drain
        lines.append(
            f"| {run.database} | {run.offered:,.0f} | {run.server} | {run.sent:,} | {ms(run.quantile(0.99, acked_only=True))} | "
            f"{'n/a' if run.server_cores is None else f'{run.server_cores:.2f}'} | "
            f"{'' if run.fold_cores is None else f'{run.fold_cores:.2f}'} | {run.generator_cores:.2f} | "
            f"{run.send_lag_p99 * 1000:.1f} | {count(drain.backlog) if drain else ''} | {drained(drain) if drain else ''} | "
            f"{count(run.stored_unacked) if drain else ''} |"
        )
    return "\n".join(lines)


def targets(runs: list[Run]) -> str:
    """One line per service run: each target of the sustained-load item, met or not, with its figure."""
    lines = []
    for run in runs:
        if run.server == "baseline":
            continue
        p99, timeouts = run.quantile(0.99), run.failures.get("timeout", 0)
        refused = sum(count for kind, count in run.failures.items() if kind != "timeout")
        drain = run.drain or Drain(None, None, None, None, None)
        checks = [
            f"p99 {ms(p99)} ms {'≤' if p99 <= TARGET_P99_SECONDS else '>'} {TARGET_P99_SECONDS * 1000:.0f} ms",
            f"timeouts {timeouts:,}",
            f"refused (503 or other non-2xx) {refused:,}",
            f"stored, unacknowledged {count(run.stored_unacked)}",
            f"backlog {count(drain.backlog)}, {drained(drain)}"
            + ("" if drain.seconds is None else f" {'≤' if drain.seconds <= TARGET_DRAIN_SECONDS else '>'} {TARGET_DRAIN_SECONDS:g} s"),
        ]
        met = (
            p99 <= TARGET_P99_SECONDS and timeouts == 0 and run.stored_unacked == 0
            and drain.seconds is not None and drain.seconds <= TARGET_DRAIN_SECONDS
        )
        lines.append(f"- {run.database} at {run.offered:,.0f}/s: {'all targets met' if met else 'not all targets met'}: {'; '.join(checks)}")
    return "\n".join(lines)


def legend(args: argparse.Namespace) -> str:
    return "\n\n".join([
        f"Open loop: request i is due at start + i/rate for {args.seconds:g} s and is sent then whatever the server has "
        f"answered, over up to {args.connections} connections, each request with a {args.timeout:g} s timeout. Latency "
        "runs from the request's due time to its 2xx, so waiting for a connection is charged to the server; a request "
        "never acknowledged (timeout, error, non-2xx) counts as ∞, and p99 of 2xx leaves those out. Achieved = 2xx per "
        "second over the load (stretched to the last 2xx when answers trailed on).",
        "Backlog at end: events stored but not yet folded (GET /metrics `policy_push_events_pending`) at the first "
        "scrape after the last request was answered or timed out. Drain: time until it reached 0, polled every "
        f"{DRAIN_POLL_SECONDS:g} s for at most {args.drain_timeout:g} s (--drain-timeout); if it did not, the events "
        "left and the rate the backlog fell at over the wait (nothing arrives then) project the time still "
        "needed. Stored, unacknowledged: accepted by the service (`policy_push_events_received_total`) although the "
        "sender had timed out and would deliver them again.",
        "Generator lag p99: how late this process started requests against the timetable; when large, the generator "
        "(or the whole machine) was short of CPU, and the latencies include that delay. Server CPU is the server "
        "process alone (not PostgreSQL's backends); fold workers CPU, that of the `policy-push worker --fold` "
        "processes together, where the service's folding runs there.",
    ])


def cpu_model() -> str:
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor() or "unknown")


def machine_facts() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"Machine: {cores} cores ({cpu_model()}), {platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}; load average before the run {' '.join(f'{x:.2f}' for x in os.getloadavg())}. "
        f"The load generator (one process), the server under test (another) and the database (SQLite inside the server "
        f"process; PostgreSQL at {PG_ADMIN.rsplit('@', 1)[-1]}) all share these {cores} cores, so the server never has "
        "them to itself, and other jobs on the machine add noise."
    )


def command_line() -> str:
    def shown(path: str) -> str:
        resolved = pathlib.Path(path).resolve()
        return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else path

    # sys.executable, not resolved: the venv's python is a symlink to the base interpreter
    executable = pathlib.Path(sys.executable)
    python = str(executable.relative_to(ROOT)) if executable.is_relative_to(ROOT) else sys.executable
    return shlex.join([python, shown(sys.argv[0]), *sys.argv[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgres"], action="append", help="repeatable (default: both)")
    parser.add_argument("--rates", type=float, nargs="+", default=[500, 1000, 2000], help="target events/s")
    parser.add_argument("--seconds", type=float, default=20, help="length of the load at each rate")
    parser.add_argument("--connections", type=int, default=1000, help="client connection pool size")
    parser.add_argument("--timeout", type=float, default=10, help="per-request timeout, seconds")
    parser.add_argument("--drain-timeout", type=float, default=15, help="longest wait for the service's backlog to drain")
    parser.add_argument(
        "--fold-workers", type=int, nargs="+", default=[0],
        help="measure the service with its folding in that many `policy-push worker --fold` processes (0: in `serve`)",
    )
    args = parser.parse_args()
    facts, began = machine_facts(), time.monotonic()
    runs = []
    with tempfile.TemporaryDirectory() as workdir:
        for kind in args.database or ["sqlite", "postgres"]:
            for rate in args.rates:
                for server, fold_workers in [("baseline", 0), *(("service", n) for n in args.fold_workers)]:
                    run = measure(kind, server, rate, args, pathlib.Path(workdir), fold_workers)
                    runs.append(run)
                    print(
                        f"[{time.monotonic() - began:5.0f} s] {kind} {rate:,.0f}/s {run.server}: {run.achieved:,.0f} 2xx/s, "
                        f"p99 {ms(run.quantile(0.99))} ms, not acknowledged: {failures(run)}",
                        file=sys.stderr, flush=True,
                    )
    print(f"## Sustained ingestion (open loop)\n\nCommand: `{command_line()}`\n\n{facts}\n")
    print(tables(runs, args))
    print(f"\nTargets (p99 ≤ {TARGET_P99_SECONDS * 1000:.0f} ms, no timeouts, nothing stored unacknowledged, backlog drained "
          f"≤ {TARGET_DRAIN_SECONDS:g} s after the load):\n{targets(runs)}")
    print(f"\n{legend(args)}\n\nTotal time {time.monotonic() - began:.0f} s.")


if __name__ == "__main__":
    main()
