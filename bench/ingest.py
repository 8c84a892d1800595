"""Ingestion benchmark: signed single-event POSTs against the real service, beside a baseline.

Both servers run as their own processes on fresh, migrated databases of the same kind; this
process is the load generator (requests are signed before the clock starts). Prints events/s
and p50/p99 latency for each, and the service/baseline ratios.

    .venv/bin/python bench/ingest.py [--events 3000] [--concurrency 16] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import statistics
import tempfile
import time

import aiohttp
from _common import SERVERS, serving, signed_requests


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


def run(kind: str, events: int, concurrency: int) -> dict[str, dict[str, float]]:
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in SERVERS:
            with serving(name, kind, pathlib.Path(workdir)) as (port, _):
                requests = signed_requests(events, name)  # signed before the clock starts
                asyncio.run(load(port, requests[: max(50, events // 20)], concurrency))  # warm-up
                results[name] = asyncio.run(load(port, requests[max(50, events // 20):], concurrency))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database", choices=["sqlite", "postgres"], action="append")
    args = parser.parse_args()
    for kind in args.database or ["sqlite"]:
        results = run(kind, args.events, args.concurrency)
        base, service = results["baseline"], results["service"]
        print(f"== {kind}: {args.events} signed single-event POSTs, concurrency {args.concurrency}")
        for name, figures in results.items():
            print(f"{name:>9}: {figures['rate']:8.0f} events/s   p50 {figures['p50_ms']:7.2f} ms   p99 {figures['p99_ms']:7.2f} ms")
        print(
            f"    ratio: {service['rate'] / base['rate']:.2f}x throughput   "
            f"{service['p50_ms'] / base['p50_ms']:.2f}x p50   {service['p99_ms'] / base['p99_ms']:.2f}x p99 (service / baseline)"
        )


if __name__ == "__main__":
    main()
