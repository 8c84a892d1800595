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
same work done two ways; ``scaling`` is the 2-worker run's speed over the 1-worker run's. Each run also
reports the peak RSS of the command's processes together (sampled every 0.2 s), what the database grew
by per firm (``pg_database_size``: tables, indexes, TOAST), and the CPU per firm of the command and of
the server. Given several sizes (``--firms 10000 100000 1000000``) it says whether the rate holds as
the size grows (``linear?``); ``--ways shared`` skips the handed-out runs (a million takes minutes).

    .venv/bin/python bench/shared_backfill.py [--firms 10000 …] [--workers 1 2] [--ways handed-out shared]
                                              [--as-of 2022-07-15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common  # noqa: E402
import backfill as backfill_bench  # noqa: E402

#: The two ways a backfill's batches reach its processes, as the tables name them.
WAYS = ("handed out", "shared")


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


async def _size(url: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return await connection.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await connection.close()


def measure(template_name: str, as_of: str, workers: int, shared: bool) -> dict[str, object]:
    """One run of the real command on a fresh copy of the template: wall time, the command's CPU and
    peak RSS (all its processes), the server's CPU, what it recorded and what the database grew by."""
    name = f"policy_push_bench_run_{secrets.token_hex(4)}"
    asyncio.run(_common._pg(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    url = _pg_url(name)
    postmaster = asyncio.run(_postmaster())
    try:
        size_before = asyncio.run(_size(url))
        args = ["--all", "--as-of", as_of, "--workers", str(workers)] + (["--shared"] if shared else [])
        server_before = _server_cpu(postmaster)
        run = backfill_bench.run_backfill(url, args)
        server_after = _server_cpu(postmaster)
        server = None if server_before is None or server_after is None else server_after - server_before
        report = run["report"]
        decisions, notices, audit = asyncio.run(_counts(url))
        firms = report["run_firms"] if shared else report["firms"]
        return {"wall": run["wall"], "firms": firms, "decisions": decisions, "notices": notices, "audit": audit,
                "client_cpu": run["cpu"], "server_cpu": server, "peak_rss": run["peak_rss"],
                "grown": asyncio.run(_size(url)) - size_before}
    finally:
        _common.drop_database(url)


def _per_firm(run: dict[str, object], firms: int) -> str:
    server = run["server_cpu"]
    server_text = "n/a (server not on this machine)" if server is None else f"{1000 * server / firms:.2f}"  # type: ignore[operator]
    return f"{1000 * run['client_cpu'] / firms:.2f} / {server_text}"  # type: ignore[operator]


def _cell(run: dict[str, object] | None, firms: int) -> str:
    if run is None:
        return "– | –"
    return f"{run['wall']:.1f} | {firms / run['wall']:,.0f}"  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, nargs="+", default=[10_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--ways", nargs="+", choices=["handed-out", "shared"], default=["handed-out", "shared"],
                        help="which ways to run (both, and their ratio, by default)")
    parser.add_argument("--as-of", default="2022-07-15")
    options = parser.parse_args()
    load = os.getloadavg()
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, load {load[0]:.2f}; PostgreSQL at {_common.PG_ADMIN.rsplit('@', 1)[-1]}")
    rows = []
    for firms in options.firms:
        name = template(firms)
        try:
            for workers in options.workers:
                handed = measure(name, options.as_of, workers, shared=False) if "handed-out" in options.ways else None
                claimed = measure(name, options.as_of, workers, shared=True) if "shared" in options.ways else None
                if handed and claimed and (handed["decisions"], handed["notices"], handed["audit"]) != (
                        claimed["decisions"], claimed["notices"], claimed["audit"]):
                    raise SystemExit(f"the two ways recorded different work: {handed} vs {claimed}")
                rows.append((firms, workers, handed, claimed))
                print(f"  {firms:,} firms, {workers} worker(s): " + "; ".join(
                    f"{way} {run['wall']:.1f} s, {firms / run['wall']:,.0f} firms/s, peak {run['peak_rss'] / 2**20:,.0f} MiB"  # type: ignore[operator]
                    for way, run in zip(WAYS, (handed, claimed)) if run), flush=True)
        finally:
            asyncio.run(_common._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"\nas of {options.as_of}, every decision/notice/audit entry written\n")
    print("| firms | workers | handed out (s) | firms/s | shared: each claims and writes (s) | firms/s | shared ÷ handed out |"
          " peak RSS, all processes (MiB) | database grew (bytes/firm) | CPU ms/firm, command / server |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for firms, workers, handed, claimed in rows:
        ratio = f"{handed['wall'] / claimed['wall']:.2f}×" if handed and claimed else "–"  # type: ignore[operator]
        run = claimed or handed
        assert run is not None
        cpu = "; ".join(f"{way} {_per_firm(r, firms)}" for way, r in zip(WAYS, (handed, claimed)) if r)
        print(f"| {firms:,} | {workers} | {_cell(handed, firms)} | {_cell(claimed, firms)} | {ratio} | "
              f"{max(r['peak_rss'] for r in (handed, claimed) if r) / 2**20:,.0f} | "  # type: ignore[operator]
              f"{run['grown'] / firms:,.0f} | {cpu} |")  # type: ignore[operator]
    runs = {(firms, workers): (handed, claimed) for firms, workers, handed, claimed in rows}
    if len(options.workers) > 1:
        one, many = options.workers[0], options.workers[-1]
        for firms in options.firms:
            print(f"\n{firms:,} firms, scaling {one} → {many} workers: " + ", ".join(
                f"{way} {a['wall'] / b['wall']:.2f}×"  # type: ignore[operator]
                for way, a, b in zip(WAYS, runs[firms, one], runs[firms, many]) if a and b))
    if len(options.firms) > 1:
        workers, smallest = options.workers[-1], options.firms[0]
        print(f"\nlinear? firms/s with {workers} worker(s), and against {smallest:,} firms:")
        for firms in options.firms:
            print(f"  {firms:,}: " + ", ".join(
                f"{way} {firms / run['wall']:,.0f} ({firms / run['wall'] / (smallest / base['wall']):.2f}×)"  # type: ignore[operator]
                for way, run, base in zip(WAYS, runs[firms, workers], runs[smallest, workers]) if run and base))
    first_run = rows[0][2] or rows[0][3]
    assert first_run is not None
    print(f"recorded at {rows[0][0]:,} firms: {first_run['decisions']:,} decisions, {first_run['notices']:,} notices, "
          f"{first_run['audit']:,} audit entries (equal in both ways)")
    print(f"\ncommand: .venv/bin/python bench/shared_backfill.py --firms {' '.join(map(str, options.firms))} "
          f"--workers {' '.join(map(str, options.workers))} --ways {' '.join(options.ways)}")


if __name__ == "__main__":
    main()
