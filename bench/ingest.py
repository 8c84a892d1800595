"""Ingestion benchmark: signed single-event POSTs against the real service, beside a baseline.

The baseline (bench/baseline_server.py) is a bare aiohttp handler with the service's group commit
and durability: the most one process can acknowledge durably. Both servers run as their own
processes on fresh, migrated databases of the same kind, at the same time; this process is the
load generator (requests are signed before the clock starts) and measures them in turn, round
after round, the order alternating, so the machine's other load falls on both alike. Prints
events/s and p50/p99 latency of each turn, the ratio of each round and the median ratio.

    .venv/bin/python bench/ingest.py [--events 1000] [--rounds 3] [--concurrency 16] [--database sqlite|postgres ...]
        [--fold-workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pathlib
import statistics
import tempfile
import time

import aiohttp
from _common import SERVERS, generator_collector_paused, serving, signed_requests, wait_folded

WARM_UP = 100
DRAIN_TIMEOUT_SECONDS = 120


async def load(port: int, requests: list[tuple[bytes, dict[str, str]]], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    queue = iter(requests)
    statuses: dict[int, int] = {}

    async def worker(session: aiohttp.ClientSession) -> None:
        for data, headers in queue:
            began = time.perf_counter()
            async with session.post(f"http://127.0.0.1:{port}/webhooks/events", data=data, headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            latencies.append(time.perf_counter() - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    if set(statuses) != {202}:
        raise SystemExit(f"unexpected statuses {statuses}")
    quantiles = statistics.quantiles(latencies, n=100)
    return {"rate": len(latencies) / elapsed, "p50_ms": quantiles[49] * 1000, "p99_ms": quantiles[98] * 1000}


def run(kind: str, events: int, concurrency: int, rounds: int, fold_workers: int = 0) -> dict[str, list[dict[str, float]]]:
    """Both servers up at once, measured in turn, `rounds` times (the order alternating), so the
    machine's other load falls on both alike; the service's backlog is folded before each of its turns
    (by `fold_workers` `policy-push worker --fold` processes if any, else in the service itself)."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name in SERVERS}
    with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
        ports = {
            name: stack.enter_context(serving(name, kind, pathlib.Path(workdir), fold_workers=fold_workers if name == "service" else 0))[0]
            for name in SERVERS
        }
        requests = {name: signed_requests(events * rounds + WARM_UP, name) for name in SERVERS}  # signed before any clock
        for name in SERVERS:
            asyncio.run(load(ports[name], requests[name][:WARM_UP], concurrency))
        for round_ in range(rounds):
            for name in SERVERS if round_ % 2 == 0 else reversed(SERVERS):
                if name == "service":
                    asyncio.run(wait_folded(ports[name], DRAIN_TIMEOUT_SECONDS))  # nothing of the last turn folds during this one
                chunk = requests[name][WARM_UP + round_ * events : WARM_UP + (round_ + 1) * events]
                with generator_collector_paused():
                    results[name].append(asyncio.run(load(ports[name], chunk, concurrency)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000, help="requests per server per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database", choices=["sqlite", "postgres"], action="append")
    parser.add_argument("--fold-workers", type=int, default=0,
                        help="fold in that many `policy-push worker --fold` processes beside `serve --no-folding`")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for kind in args.database or ["sqlite", "postgres"]:
        results = run(kind, args.events, args.concurrency, args.rounds, args.fold_workers)
        folding = f"{args.fold_workers} fold worker process(es)" if args.fold_workers else "folding in the service"
        print(f"== {kind}: {args.events} signed single-event POSTs per server per round, {args.rounds} rounds, "
              f"concurrency {args.concurrency}, {folding}")
        for round_, (base, service) in enumerate(zip(results["baseline"], results["service"], strict=True), 1):
            for name, figures in (("baseline", base), ("service", service)):
                print(f"  round {round_} {name:>9}: {figures['rate']:8.0f} events/s   p50 {figures['p50_ms']:7.2f} ms   p99 {figures['p99_ms']:7.2f} ms")
            print(f"  round {round_}     ratio: {service['rate'] / base['rate']:.2f}x throughput (service / baseline)")
        ratios = sorted(s["rate"] / b["rate"] for b, s in zip(results["baseline"], results["service"], strict=True))
        print(
            f"    median: baseline {statistics.median(r['rate'] for r in results['baseline']):.0f} events/s, "
            f"service {statistics.median(r['rate'] for r in results['service']):.0f} events/s; "
            f"ratio {statistics.median(ratios):.2f}x (rounds {', '.join(f'{r:.2f}' for r in ratios)})"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
