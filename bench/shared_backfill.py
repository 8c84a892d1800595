"""Backfill beyond one process: batches claimed from PostgreSQL (``--shared``) against batches handed out by one command.

The database: bench/backfill.py's cached SQLite file of N synthetic firms, copied once into a PostgreSQL
template with ``policy-push db copy``. Each configuration then gets its own copy of the template
(``CREATE DATABASE … TEMPLATE``) and the real command as its own process tree, judging the whole
catalogue as of a date inside most windows and recording every decision, notice and audit entry:

* ``handed out, W workers``: ``policy-push backfill --all --workers W`` — the calling process hands key
  ranges to W processes, which judge and write them (the baseline: the same work with no claim and no
  lease in the database, which only one machine can do);
* ``shared, W workers``: ``policy-push backfill --all --shared --workers W`` — W processes each claim
  a batch from the database, judge it and write it themselves (what processes on other machines do
  with ``--join``).

Both record the same decisions and notices (checked: the counts must be equal), so the ratio is the
same work done two ways; ``scaling`` is the 2-worker run's speed over the 1-worker run's.

    .venv/bin/python bench/shared_backfill.py [--firms 10000] [--workers 1 2] [--as-of 2022-07-15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common  # noqa: E402
import backfill as backfill_bench  # noqa: E402


def _pg_url(database: str) -> str:
    return _common.PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + "/" + database


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POLICY_PUSH_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "engine.cli", "--log-level", "WARNING", *args], env=env,
                          capture_output=True, text=True, cwd=_common.ROOT, check=False)


async def _counts(url: str) -> tuple[int, int, int]:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return tuple([await connection.fetchval(f"SELECT count(*) FROM {table}") for table in ("decision", "notice", "audit_entry")])
    finally:
        await connection.close()


def template(firms: int) -> str:
    """A PostgreSQL database holding the cached synthetic firms (made once per run of this script)."""
    source = backfill_bench.build(firms)
    upgraded = _cli(f"sqlite+aiosqlite:///{source}", "db", "upgrade")  # a cache built before the latest migration
    if upgraded.returncode != 0:
        raise SystemExit(f"db upgrade failed:\n{upgraded.stderr[-3000:]}")
    name = f"policy_push_bench_template_{firms}_{secrets.token_hex(3)}"
    asyncio.run(_common._pg(f'CREATE DATABASE "{name}"'))
    copied = _cli(f"sqlite+aiosqlite:///{source}", "db", "copy", "--to", _pg_url(name).replace("+asyncpg", ""))
    if copied.returncode != 0:
        raise SystemExit(f"db copy failed:\n{copied.stderr[-3000:]}")
    return name


async def _postmaster() -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine (its CPU is then measurable)."""
    import asyncpg

    connection = await asyncpg.connect(_common.PG_ADMIN)
    try:
        backend = await connection.fetchval("SELECT pg_backend_pid()")
        # Read while the connection is open: once closed, its backend exits and /proc forgets it.
        try:
            status = Path(f"/proc/{backend}/status").read_text()
        except OSError:
            return None  # a server elsewhere
    finally:
        await connection.close()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def _server_cpu(postmaster: int | None) -> float | None:
    """CPU seconds the server has used: its main process, the backends it has reaped and those alive."""
    if postmaster is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    pids = [postmaster, *(int(p) for p in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split())]
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile: its time is in the main process's reaped children now
        # utime, stime, and (the main process only) the reaped children's cutime, cstime
        total += sum(int(v) for v in fields[11:15 if pid == postmaster else 13])
    return total / tick


def measure(template_name: str, as_of: str, workers: int, shared: bool) -> dict[str, object]:
    name = f"policy_push_bench_run_{secrets.token_hex(4)}"
    asyncio.run(_common._pg(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    url = _pg_url(name)
    postmaster = asyncio.run(_postmaster())
    try:
        args = ["backfill", "--all", "--as-of", as_of, "--workers", str(workers), "--json"] + (["--shared"] if shared else [])
        server_before, client_before = _server_cpu(postmaster), resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = _cli(url, *args)
        wall = time.perf_counter() - started
        server_after, client_after = _server_cpu(postmaster), resource.getrusage(resource.RUSAGE_CHILDREN)
        client = (client_after.ru_utime + client_after.ru_stime) - (client_before.ru_utime + client_before.ru_stime)
        server = None if server_before is None or server_after is None else server_after - server_before
        if done.returncode != 0:
            raise SystemExit(f"backfill failed:\n{done.stderr[-3000:]}")
        report = json.loads(done.stdout)
        decisions, notices, audit = asyncio.run(_counts(url))
        firms = report["run_firms"] if shared else report["firms"]
        return {"wall": wall, "firms": firms, "decisions": decisions, "notices": notices, "audit": audit,
                "client_cpu": client, "server_cpu": server}
    finally:
        _common.drop_database(url)


def _per_firm(run: dict[str, object], firms: int) -> str:
    server = run["server_cpu"]
    server_text = "n/a (server not on this machine)" if server is None else f"{1000 * server / firms:.2f}"  # type: ignore[operator]
    return f"{1000 * run['client_cpu'] / firms:.2f} / {server_text}"  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--as-of", default="2022-07-15")
    options = parser.parse_args()
    load = os.getloadavg()
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, load {load[0]:.2f}; PostgreSQL at {_common.PG_ADMIN.rsplit('@', 1)[-1]}")
    name = template(options.firms)
    try:
        rows = []
        for workers in options.workers:
            handed = measure(name, options.as_of, workers, shared=False)
            claimed = measure(name, options.as_of, workers, shared=True)
            if (handed["decisions"], handed["notices"], handed["audit"]) != (claimed["decisions"], claimed["notices"], claimed["audit"]):
                raise SystemExit(f"the two ways recorded different work: {handed} vs {claimed}")
            rows.append((workers, handed, claimed))
        print(f"\n{options.firms:,} firms, as of {options.as_of}, every decision/notice/audit entry written\n")
        print("| workers | handed out (s) | firms/s | shared: each claims and writes (s) | firms/s | shared ÷ handed out |")
        print("|---:|---:|---:|---:|---:|---:|")
        for workers, handed, claimed in rows:
            print(f"| {workers} | {handed['wall']:.1f} | {options.firms / handed['wall']:,.0f} | {claimed['wall']:.1f} | "
                  f"{options.firms / claimed['wall']:,.0f} | {handed['wall'] / claimed['wall']:.2f}× |")
        if len(rows) > 1:
            first, last = rows[0], rows[-1]
            print(f"\nscaling {first[0]} → {last[0]} workers: handed out {first[1]['wall'] / last[1]['wall']:.2f}×, "
                  f"shared {first[2]['wall'] / last[2]['wall']:.2f}×")
        print("\nCPU per firm (ms): the command's processes / the PostgreSQL server")
        for workers, handed, claimed in rows:
            print(f"  {workers} worker(s): handed out {_per_firm(handed, options.firms)}; shared {_per_firm(claimed, options.firms)}")
        print(f"recorded per run: {rows[0][1]['decisions']:,} decisions, {rows[0][1]['notices']:,} notices, "
              f"{rows[0][1]['audit']:,} audit entries (equal in every run)")
        print(f"\ncommand: .venv/bin/python bench/shared_backfill.py --firms {options.firms} --workers {' '.join(map(str, options.workers))}")
    finally:
        asyncio.run(_common._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
