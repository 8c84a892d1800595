"""Command line: the ``rules`` group (lint, list, test) and the ``match`` command.

Both are registered on the main ``policy-push`` group by engine/cli.py; they work standalone too
(``click`` objects, e.g. ``CliRunner().invoke(rules, ["lint"])``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from connectors import sql_storage
from engine.backfill import windows as window_rules
from engine.cli import backfill as backfill_cli
from engine.cli import options
from engine.core import china_time, matching
from engine.judging import catalogue as package
from engine.judging import recording
from engine.judging.catalogue import basis, compiler, durable, loader, reference, scenarios
from engine.notices import content

_DIRS = "engine.catalogue.dirs"  # key in click's ctx.meta (shared with the parent group)


@dataclasses.dataclass(frozen=True)
class _Dirs:
    rules: Path | None
    measures: Path | None


def _dirs(ctx: click.Context) -> _Dirs:
    return ctx.meta.get(_DIRS) or _Dirs(None, None)


def _load(ctx: click.Context) -> Any:
    dirs = _dirs(ctx)
    try:
        return loader.load(dirs.rules, measures=dirs.measures)
    except loader.CatalogueError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None


@click.group()
@click.option("--rules-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Document folders (default: $POLICY_PUSH_RULES_DIR, else the repository's rules/).")
@click.option("--measures-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A folder of <slug>.txt replacing each document's source.txt (default: $POLICY_PUSH_MEASURES_DIR, "
                   "else none: every document folder brings its own text).")
@click.pass_context
def rules(ctx: click.Context, rules_dir: Path | None, measures_dir: Path | None) -> None:
    """The rules catalogue: check, list and test the document folders rules/<slug>/."""
    ctx.meta[_DIRS] = _Dirs(rules_dir, measures_dir)


@rules.command()
@click.pass_context
def lint(ctx: click.Context) -> None:
    """Load every document folder (clauses, source text, scenarios) strictly; print every problem, exit 1 on any."""
    dirs = _dirs(ctx)
    catalogue, problems = loader.check(dirs.rules, measures=dirs.measures)
    found: list[scenarios.Scenario] = []
    if not problems:
        try:
            compiler.plan(catalogue)
        except compiler.CompileError as exc:
            problems += exc.problems
        found, trouble = scenarios.check(catalogue, dirs.rules)
        problems += trouble
    for problem in problems:
        click.echo(problem)
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(1)
    for row in basis.figures(catalogue):
        click.echo(basis.figure_line(row))
    click.echo(
        f"ok: {len({c.cite for c in catalogue.clauses})} clauses in {len(catalogue.documents)} documents "
        f"({len(catalogue.clauses)} rules, {len(catalogue.executable())} executable), {len(found)} scenarios"
    )


_LIST_FIELDS = ("id", "cite", "title", "category", "firm_facing", "mode", "jurisdiction",
                "valid_from", "valid_to", "executable", "part")


@rules.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the clauses (id, cite, title, category, mode, jurisdiction, window, executable, and the part
    of its clause an entry judges where a clause is split into parts)."""
    rows = []
    for clause in _load(ctx).clauses:
        row = {field: getattr(clause, field) for field in _LIST_FIELDS}
        row["valid_from"] = clause.valid_from.isoformat()
        row["valid_to"] = clause.valid_to.isoformat() if clause.valid_to else None
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo("\t".join("" if row[f] is None else str(row[f]).lower() if isinstance(row[f], bool)
                             else str(row[f]) for f in _LIST_FIELDS))


@rules.command()
@click.pass_context
def test(ctx: click.Context) -> None:
    """Run every scenario through both evaluators; exit 1 on any failure or coverage gap."""
    catalogue = _load(ctx)
    try:
        found = scenarios.load(catalogue, _dirs(ctx).rules)
    except loader.CatalogueError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(1)
    evaluators: dict[str, Any] = {"reference": reference.ReferenceMatcher(catalogue)}
    matcher = durable.create_matcher(catalogue)
    if isinstance(matcher, durable.DurableMatcher):
        evaluators["durable-rules"] = matcher
    else:
        click.echo("durable-rules not importable: running the reference evaluator only", err=True)
    failed = 0
    for label, evaluator in evaluators.items():
        bad = 0
        for scenario in found:
            wrong = scenarios.run(scenario, evaluator)
            if wrong:
                bad += 1
                click.echo(f"FAIL [{label}] {scenario.source}: {scenario.name} ({scenario.clause}): {'; '.join(wrong)}")
        click.echo(f"{label}: {len(found) - bad} passed, {bad} failed")
        failed += bad
    gaps = scenarios.coverage_problems(catalogue, found)
    for gap in gaps:
        click.echo(f"COVERAGE {gap}")
    if failed or gaps:
        sys.exit(1)


@rules.command("windows")
@click.option("--from", "start", callback=options.parse_date, default=None, help="First day YYYY-MM-DD (default: today in China).")
@click.option("--days", type=click.IntRange(0, 3660), default=90, show_default=True, help="How many days on from it.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def windows(ctx: click.Context, start: dt.date | None, days: int, as_json: bool) -> None:
    """Clause windows that open or close from a day on, in date order (the days the service's window job
    judges firms under a clause that opens, and stops pushing under one that closed)."""
    catalogue = _load(ctx)
    start = start or china_time.today_in_china()
    changes = window_rules.upcoming(catalogue, start, days)
    by_id = catalogue.by_id
    if as_json:
        click.echo(json.dumps([
            {"on": c.on.isoformat(), "kind": c.kind, "clause_id": c.clause_id, "cite": by_id[c.clause_id].cite,
             "title": by_id[c.clause_id].display_title} for c in changes
        ], ensure_ascii=False, indent=2))
        return
    end = start + dt.timedelta(days=days)
    span = f"{content.chinese_date(start)}至{content.chinese_date(end)}"
    if not changes:
        click.echo(f"{span}没有政策条款开始或停止施行")
        return
    count = {kind: sum(1 for c in changes if c.kind == kind) for kind in (window_rules.OPENS, window_rules.CLOSES)}
    changing = len(changes) - sum(count.values())
    click.echo(f"{span}：{count[window_rules.OPENS]}项政策条款开始施行，{count[window_rules.CLOSES]}项停止施行"
               + (f"，{changing}项规定数值变更" if changing else ""))
    for change in changes:
        clause = by_id[change.clause_id]
        if change.kind == window_rules.OPENS:
            what = "开始施行（当日按新条款判定已有企业）"
        elif change.kind == window_rules.CHANGES:
            what = "规定数值变更（当日按新数值重新判定已有企业）"
        else:
            what = f"停止施行（{content.chinese_date(change.on - dt.timedelta(days=1))}为最后一天）"
        click.echo(f"{content.chinese_date(change.on)}  {what}  {clause.cite}  {clause.display_title}  [{clause.id}]")


@rules.command("diff")
@click.option("--as-of", callback=options.parse_date, default=None, help="Judge as of this date YYYY-MM-DD (default: today in China).")
@click.option("--limit", type=click.IntRange(0, 1_000_000), default=50, show_default=True, help="Firm decisions to list.")
@click.option("--workers", type=click.IntRange(0, 64), default=None, help="Worker processes (default: one per CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def diff(ctx: click.Context, as_of: dt.date | None, limit: int, workers: int | None, as_json: bool) -> None:
    """Which firms' decisions would change under the current rule files (a dry run of `backfill --changed`)."""
    dirs = _dirs(ctx)
    backfill_cli.rules_diff(dirs.rules, dirs.measures, as_of, limit, workers, as_json)


@click.command()
@click.option("--profile", "profile_path", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A firm profile as JSON (docs/profile.md shape, or {\"profile\": {...}} as the API returns).")
@click.option("--as-of", callback=options.parse_date, default=None, help="Decision date YYYY-MM-DD (default: today in China).")
@click.option("--risk-year", "risk_years", type=int, multiple=True,
              help="A year the firm's county had a medium/high risk area (repeatable); replaces the stored risk designations.")
@click.option("--no-risk-years", is_flag=True, help="Judge as if the county never had a risk area, whatever is stored.")
@click.option("--all", "show_all", is_flag=True, help="Also show clauses not met.")
@click.option("--json", "as_json", is_flag=True, help="Print decisions as JSON.")
def match(profile_path: Path, as_of: dt.date | None, risk_years: tuple[int, ...], no_risk_years: bool,
          show_all: bool, as_json: bool) -> None:
    """Decisions for a firm profile, without storing anything (met and unknown; --all for every one).

    The profile is judged as the pipeline would judge it, with the facts stored in the configured
    database (POLICY_PUSH_DATABASE_URL, as for `serve`): the designations of the profile's county (its
    region: risk areas, 示范县 创建县) and, when its uscc is a stored firm, that firm's stored decisions (the
    grants a yearly cap counts). --risk-year or --no-risk-years replace the stored risk designations. Without a database the
    profile is judged without stored facts, and a line on stderr says which were not read.
    """
    if risk_years and no_risk_years:
        raise click.UsageError("--risk-year and --no-risk-years contradict each other")
    try:
        profile = json.loads(profile_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {profile_path}: {exc}", param_hint="--profile") from None
    if isinstance(profile, dict) and isinstance(profile.get("profile"), dict):
        profile = profile["profile"]
    if not isinstance(profile, dict):
        raise click.BadParameter("the profile must be a JSON object", param_hint="--profile")
    as_of = as_of or china_time.today_in_china()
    try:
        matcher = package.default_matcher()
    except loader.CatalogueError as exc:
        raise click.ClickException(str(exc)) from None
    override = frozenset(risk_years) if risk_years or no_risk_years else None
    context, facts = asyncio.run(_context(profile, override))
    titles = {c.id: c.display_title for c in matcher.catalogue.clauses}
    decisions = [
        d for d in matcher.match(profile, as_of, context)
        if show_all or d.status != matching.Verdict.NOT_MET
    ]
    if as_json:
        click.echo(json.dumps([_decision_json(d, titles) for d in decisions], ensure_ascii=False, indent=2))
        return
    click.echo(f"as of {as_of.isoformat()}: {len(decisions)} decision(s)")
    click.echo(f"judged with: {facts}")
    for d in decisions:
        line = f"{d.status.value:8} {d.cite}  {titles.get(d.clause_id, '')}"
        if d.amount is not None:
            line += f"  amount {d.amount:,.2f}"
        missing = d.explanation.get("missing") or []
        if missing:
            line += f"  missing: {', '.join(missing)}"
        if d.explanation.get("needs") and d.status == matching.Verdict.UNKNOWN:
            line += f"  needs: {'; '.join(d.explanation['needs'])}"
        click.echo(line)


async def _context(profile: dict[str, Any], override: frozenset[int] | None) -> tuple[matching.MatchContext, str]:
    """The context to judge `profile` in, read from the configured database as the pipeline reads it,
    and a line saying which facts it holds.

    A database that does not exist (no SQLite file, no PostgreSQL database of that name, or one never
    migrated) holds no facts: the profile is judged without them and one line on stderr says which
    were not read. Any other failure to read it stops the command: a calculator quietly judging
    without the county's designations would understate a benefit.
    """
    county, uscc = profile.get("region"), profile.get("uscc")
    # What is known without the database: the stated risk years, no stored decisions.
    bare = recording.context_of(matching.designations(epidemic_risk=override or ()), [])
    unread = []
    if isinstance(county, str):
        unread.append(f"designations of county {county}")
    if isinstance(uscc, str):
        unread.append(f"stored decisions of firm {uscc}")
    if not unread:  # nothing to read: no database needed
        return bare, _facts(bare, "given" if override is not None else "none", None)
    url = options.load_settings().database_url
    where = sa.engine.make_url(url).render_as_string(hide_password=True)
    absent = f"no database at {where}"
    store = None if _missing_sqlite_file(url) else sql_storage.SqlStorage(url)
    if store is not None:
        await store.open()
        try:
            if await store.schema_revision() is not None:
                context = await recording.stored_context(store, profile, override)
                return context, _facts(context, "stored" if override is None else "given", len(context.grants))
            absent = f"the database at {where} has no tables yet"
        except sa.exc.DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != _NO_SUCH_DATABASE:
                raise click.ClickException(f"cannot read the stored facts from {where}: {exc.orig}") from None
        except OSError as exc:
            raise click.ClickException(f"cannot read the stored facts from {where}: {exc}") from None
        finally:
            await store.close()
    click.echo(f"{absent}: judged without stored facts ({'; '.join(unread)} not read)", err=True)
    return bare, _facts(bare, "not read: no database" if override is None else "given", None)


#: PostgreSQL's SQLSTATE for a database that does not exist (invalid_catalog_name).
_NO_SUCH_DATABASE = "3D000"


def _missing_sqlite_file(url: str) -> bool:
    """Whether `url` names a SQLite file that does not exist (opening it would create an empty one)."""
    parsed = sa.engine.make_url(url)
    return parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists()


def _facts(context: matching.MatchContext, source: str, grants: int | None) -> str:
    """One line for the officer: the county's risk years and where they came from, its demonstration-county
    years, and the grants counted."""
    risk, demo = context.years(matching.EPIDEMIC_RISK), context.years(matching.SME_DEMO_COUNTY)
    line = f"risk years {', '.join(map(str, risk)) or 'none'} ({source})"
    if demo:
        line += f"; demonstration county since {demo[0]}"
    return line if grants is None else f"{line}; {grants} stored grant(s) of the firm counted"


def _decision_json(decision: matching.Decision, titles: dict[str, str]) -> dict[str, Any]:
    return {**decision.as_dict(), "title": titles.get(decision.clause_id)}
