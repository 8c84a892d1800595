"""``policy-push backfill`` and ``policy-push rules diff``: re-judge stored firms, preview first."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import click

from connectors import sql_storage
from engine import settings
from engine.backfill import preview, runner, shared
from engine.cli import database, options
from engine.core import china_time
from engine.judging import catalogue

log = logging.getLogger(__name__)

#: Seconds between progress lines when stderr is not a terminal (CI logs, files).
PROGRESS_LOG_SECONDS = 10.0


def _settings() -> settings.Settings:
    return options.load_settings()


def _select(matcher: runner.Matcher, clause_ids: tuple[str, ...], document: str | None, everything: bool,
            changed: bool, stored: dict[str, set[str]]) -> frozenset[str] | None:
    chosen = [name for name, on in (("--clause", bool(clause_ids)), ("--document", document is not None),
                                    ("--all", everything), ("--changed", changed)) if on]
    if len(chosen) != 1:
        raise click.UsageError("say what to re-judge: exactly one of --clause (repeatable), --document, --all or --changed"
                               + (f" (got {' and '.join(chosen)})" if chosen else ""))
    if everything:
        return None
    if clause_ids:
        unknown = runner.unknown_clauses(matcher, clause_ids)
        if unknown:
            raise click.BadParameter(f"not a firm-facing clause of the catalogue: {', '.join(unknown)}", param_hint="--clause")
        return frozenset(clause_ids)
    if document is not None:
        ids = frozenset(c.id for c in matcher.catalogue.firm_facing() if c.slug == document)
        if not ids:
            slugs = ", ".join(d.slug for d in matcher.catalogue.documents)
            raise click.BadParameter(f"no document {document!r} with firm-facing clauses (documents: {slugs})", param_hint="--document")
        return ids
    ids = frozenset(runner.changed_clauses(matcher, stored))
    if not ids:
        # Judging every firm against no clause would still read them all: say so and stop.
        click.echo("every firm's latest decisions were made with the current rule files: nothing to apply")
        raise click.exceptions.Exit(0)
    return ids


@click.command("backfill")
@click.option("--clause", "clause_ids", multiple=True, metavar="ID", help="Re-judge this clause (repeatable), e.g. qinghai-2022-2.")
@click.option("--document", metavar="SLUG", help="Re-judge every firm-facing clause of one document, e.g. yunnan-2022.")
@click.option("--all", "everything", is_flag=True, help="Re-judge the whole catalogue.")
@click.option("--changed", is_flag=True, help="Re-judge the clauses whose rule changed since decisions were stored (see `rules diff`).")
@click.option("--as-of", callback=options.parse_date, default=None, help="Judge as of this date YYYY-MM-DD (default: today in China).")
@click.option("--dry-run", is_flag=True, help="Store nothing; print what would change and which notices would go out.")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Worker processes judging in parallel (default: one per CPU; 0 judges in this process).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=runner.constants.BACKFILL_BATCH_SIZE, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the tally as JSON instead of tables.")
@click.option("--shared", is_flag=True,
              help="Store the run's batches in the database, so that processes on other machines can join it (--join).")
@click.option("--join", "join_run", metavar="RUN", help="Work on a shared run started elsewhere (its id), until its batches are done.")
def backfill(clause_ids: tuple[str, ...], document: str | None, everything: bool, changed: bool, as_of: dt.date | None,
             dry_run: bool, workers: int | None, batch_size: int, as_json: bool, shared: bool, join_run: str | None) -> None:
    """Re-judge every stored firm against clauses of the catalogue, in batches across worker processes.

    A real run records the decisions that change (with audit entries) and creates their notices,
    exactly once as always; run with --dry-run first to see what it would do. With --shared, the
    batches are claimed from the database by this command's workers and by any other process that
    joins the run with --join, on this machine or another one using the same database.
    """
    config = _settings()
    database.prepare(config.database_url)
    matcher = catalogue.default_matcher()
    if shared or join_run is not None:
        if dry_run:
            raise click.UsageError("--shared and --join record decisions: preview with --dry-run without them")
        if join_run is not None and (shared or clause_ids or document or everything or changed or as_of):
            raise click.UsageError("--join works on the run as it was started: give no --shared, selection or --as-of with it")
        _shared(config, matcher, clause_ids, document, everything, changed, as_of, workers, batch_size, join_run, as_json)
        return
    result = _run(config, matcher, (None, None), clause_ids, document, everything, changed, as_of,
                  dry_run, workers, batch_size, list_changes=0)
    cites = {c.id: c.cite for c in matcher.catalogue.clauses}
    if as_json:
        click.echo(json.dumps({"as_of": result[1].isoformat(), "dry_run": dry_run, "seconds": round(result[0].seconds, 3),
                               **result[0].tally.as_dict()}, ensure_ascii=False, indent=2, sort_keys=True))
        return
    head = "dry run: nothing stored" if dry_run else "backfill done"
    tally = result[0].tally
    click.echo(f"{head} — as of {result[1]}, {tally.firms:,} firms in {result[0].seconds:.1f} s "
               f"({tally.firms / max(result[0].seconds, 1e-9):,.0f} firms/s)")
    click.echo(preview.render(tally, dry_run=dry_run, cites=cites))


def _run(config: settings.Settings, matcher: runner.Matcher, dirs: tuple[str | None, str | None], clause_ids: tuple[str, ...],
         document: str | None, everything: bool, changed: bool, as_of: dt.date | None, dry_run: bool,
         workers: int | None, batch_size: int, *, list_changes: int) -> tuple[runner.Result, dt.date]:

    as_of = as_of or china_time.today_in_china()
    workers = (os.cpu_count() or 1) if workers is None else workers

    async def _go() -> runner.Result:
        target = sql_storage.SqlStorage.configured(config)
        await target.open()
        try:
            stored = await target.stored_rule_versions() if changed else {}
            selection = _select(matcher, clause_ids, document, everything, changed, stored)
            plan = runner.Plan(as_of=as_of, clause_ids=selection, dry_run=dry_run, batch_size=batch_size,
                               workers=workers, list_changes=list_changes)
            with _progress(await target.firm_count()) as advance:
                return await runner.run(target, matcher, plan, open_store=functools.partial(
                    sql_storage.SqlStorage, config.database_url, stale_after=config.notices.stale_after,
                    digest_window=config.notices.digest_window),
                                        catalogue_dirs=dirs, progress=advance)
        finally:
            await target.close()

    return asyncio.run(_go()), as_of


def _shared(config: settings.Settings, matcher: runner.Matcher, clause_ids: tuple[str, ...], document: str | None,
            everything: bool, changed: bool, as_of: dt.date | None, workers: int | None, batch_size: int,
            join_run: str | None, as_json: bool) -> None:
    """Start a shared run (or join one) and work on it with `workers` processes (0: in this one)."""
    workers = (os.cpu_count() or 1) if workers is None else workers
    open_store = functools.partial(sql_storage.SqlStorage, config.database_url, stale_after=config.notices.stale_after,
                                   digest_window=config.notices.digest_window)

    async def _go() -> tuple[Any, preview.Tally, Any, float]:
        target = sql_storage.SqlStorage.configured(config)
        await target.open()
        try:
            if join_run is None:
                stored = await target.stored_rule_versions() if changed else {}
                selection = _select(matcher, clause_ids, document, everything, changed, stored)
                plan = runner.Plan(as_of=as_of or china_time.today_in_china(), clause_ids=selection, batch_size=batch_size)
                spec = await shared.start(target, matcher, plan)
                click.echo(f"backfill run {spec.run_id} started: other processes join it with "
                           f"`policy-push backfill --join {spec.run_id}`", err=True)
            else:
                spec = await target.get_run(join_run)
                if spec is None:
                    raise click.BadParameter(f"no backfill run {join_run!r} in this database", param_hint="--join")
            started = time.perf_counter()
            try:
                if workers == 0:
                    tally = await shared.work(target, matcher, spec, worker=shared.worker_name())
                else:
                    tally = await shared.work_in_processes(spec, workers, open_store, (None, None))
            except shared.RunMismatch as exc:
                raise click.ClickException(str(exc)) from None
            return spec, tally, await target.run_progress(spec.run_id), time.perf_counter() - started
        finally:
            await target.close()

    spec, tally, progress, seconds = asyncio.run(_go())
    if as_json:
        click.echo(json.dumps({"run": spec.run_id, "as_of": spec.as_of.isoformat(), "seconds": round(seconds, 3),
                               "this_process": tally.as_dict(), "run_batches": dict(progress.batches),
                               "run_firms": progress.firms, "run_recorded": progress.recorded, "run_notices": progress.notices,
                               "run_finished": progress.finished},
                              ensure_ascii=False, indent=2, sort_keys=True))
        return
    click.echo(f"this process: {tally.firms:,} firms in {seconds:.1f} s, {tally.recorded:,} decisions and "
               f"{tally.notices_created:,} notices recorded")
    click.echo(shared.progress_line(spec, progress))


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar with rate and ETA on a terminal; a log line every few seconds otherwise."""
    started = time.monotonic()
    done = 0

    def rate() -> str:
        elapsed = time.monotonic() - started
        return f"{done / elapsed:,.0f} firms/s" if elapsed > 0 and done else ""

    if sys.stderr.isatty():
        with click.progressbar(length=total, label="backfill", file=sys.stderr, show_eta=True, show_pos=True,
                               item_show_func=lambda _item: rate()) as bar:
            def advance(firms: int) -> None:
                nonlocal done
                done += firms
                bar.update(firms, current_item=firms)
            yield advance
        return
    last = started

    def advance_logged(firms: int) -> None:
        nonlocal done, last
        done += firms
        now = time.monotonic()
        if now - last >= PROGRESS_LOG_SECONDS or done >= total:
            last = now
            remaining = (total - done) / (done / (now - started)) if done else 0.0
            log.info("backfill: %s/%s firms, %s, ETA %.0f s", f"{done:,}", f"{total:,}", rate(), remaining)

    yield advance_logged


def rules_diff(rules_dir: Any, measures_dir: Any, as_of: dt.date | None, limit: int, workers: int | None, as_json: bool) -> None:
    """Which firms' decisions the current rule files would change (a dry run of `backfill --changed`).

    A clause counts as changed when decisions were stored under another rule version (content
    hash of the clause) than the one in the rule files now, or when none was ever stored for it.
    """

    config = _settings()
    database.prepare(config.database_url)
    matcher = catalogue.default_matcher(rules_dir, measures=measures_dir)

    async def _stored() -> dict[str, set[str]]:
        target = sql_storage.SqlStorage.configured(config)
        await target.open()
        try:
            return await target.stored_rule_versions()
        finally:
            await target.close()

    stored = asyncio.run(_stored())
    by_id = matcher.catalogue.by_id
    changed = runner.changed_clauses(matcher, stored)
    if not changed:
        click.echo("every firm's latest decisions were made with the current rule files: nothing to apply")
        return
    result, as_of = _run(config, matcher, (_str(rules_dir), _str(measures_dir)), tuple(changed), None, False,
                         False, as_of, True, workers, runner.constants.BACKFILL_BATCH_SIZE, list_changes=limit)
    tally = result.tally
    # Clauses never judged for anyone are judged too (a new rule), but shown only if they change something.
    shown = [c for c in changed if c in stored or tally.by_clause.get(c, {}).get("changed")]
    rows = [
        {"clause_id": c, "cite": by_id[c].cite, "stored_versions": sorted(stored.get(c, ())), "version": by_id[c].rule_version,
         **{k: tally.by_clause.get(c, {}).get(k, 0) for k in preview.CLAUSE_COLUMNS}}
        for c in shown
    ]
    if as_json:
        click.echo(json.dumps({"as_of": as_of.isoformat(), "clauses": rows, "changes": [dict(vars(i)) for i in result.listed],
                               "firms_changed": tally.firms_changed, "decisions_changed": tally.changes()},
                              ensure_ascii=False, indent=2))
        return
    if not shown or not tally.changes():
        click.echo(f"no stored decision would change under the current rule files (as of {as_of}): nothing to apply")
        return
    click.echo(f"rules changed since the firms' latest decisions were stored (as of {as_of}):")
    for row in rows:
        before = ", ".join(row["stored_versions"]) or "never judged"
        click.echo(f"  {row['cite']}  {before} → {row['version']}: {row['changed']:,} decision(s) change, "
                   f"{row['newly_met']:,} newly met, {row['no_longer_met']:,} no longer met")
    click.echo(f"firms whose decisions change: {tally.firms_changed:,}")
    for item in result.listed:
        before = "—" if item.before_status is None else f"{item.before_status} {_amount(item.before_amount)} ({item.before_version})"
        click.echo(f"  {item.uscc}  {by_id[item.clause_id].cite}: {before} → {item.after_status} {_amount(item.after_amount)}".rstrip())
    if tally.changes() > len(result.listed):
        click.echo(f"  … {tally.changes() - len(result.listed):,} more (--limit)")
    click.echo(f"apply with: policy-push backfill --changed --as-of {as_of}")


def _amount(value: Any) -> str:
    return "" if value is None else f"{value:,.2f}"


def _str(path: Any) -> str | None:
    return None if path is None else str(path)
