"""Command line: the ``templates`` group — ``lint`` every notice template against the catalogue,
``sms`` to list the SMS templates as they are filed with the provider.

Registered on the main ``policy-push`` group by engine/cli/__init__.py; works standalone too
(``CliRunner().invoke(templates, ["lint"])``).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import sys
from pathlib import Path

import click
import jinja2
import markupsafe
from jinja2 import nodes

from engine import constants
from engine.core import firm_names, matching
from engine.judging.catalogue import loader, model
from engine.notices import channels, digest, firm_links, outbox, render, unsubscribe
from engine.notices import content as content_module

SEGMENT_BUDGET_VAR = "POLICY_PUSH_SMS_SEGMENT_BUDGET"
SIGN_NAME_VAR = "POLICY_PUSH_SMS_SIGN_NAME"
#: Most notices should cost two SMS at most; raise it only knowing what it costs per firm.
DEFAULT_SEGMENT_BUDGET = constants.SMS_SEGMENT_BUDGET

#: Sample data of typical size: a 12-character registered name, a seven-digit amount (above most
#: grants here, so the budget holds for them), a real-length notice id and unsubscribe link.
SAMPLE_FIRM = "云南滇池示例商贸有限公司"
#: The worst case: the longest name the event schemas accept (200 characters), with no organisational
#: form or parenthetical to leave out, so its SMS short form is cut short with "…".
SAMPLE_LONG_FIRM = ("云南滇池示例国际供应链管理集团昆明经济技术开发区分公司" * 8)[:200]
#: A name of 40 characters: a digest's SMS must fit the budget for any name up to this long without cutting it
#: below what the provider takes (35), nor below what the renderer may shorten it to.
SAMPLE_40_FIRM = ("云南滇池示例国际供应链管理集团昆明经济技术开发区分公司" * 2)[:36] + "有限公司"
SAMPLE_USCC = "91530100MA6K00000X"
SAMPLE_AMOUNT = 1_234_567.89
#: The amount of a typical grant (48,000.00元), with which a typical firm's SMS must name its benefit.
SAMPLE_TYPICAL_AMOUNT = 48_000.0
SAMPLE_NOTICE_ID = "ntc_" + "0" * 24
SAMPLE_BASE_URL = "https://policy-push.example.cn"
SAMPLE_PHONE = "+8613800138000"
SAMPLE_EMAIL = "finance@example.cn"
SMS_OPT_OUT = "回T退订"
_DIRS = "engine.notices.templates.dirs"  # key in click's ctx.meta (shared with subcommands)


@dataclasses.dataclass
class LintReport:
    """What :func:`lint` found: problems (each naming clause and template) and SMS statistics."""

    problems: list[str] = dataclasses.field(default_factory=list)
    clauses: int = 0
    overrides: int = 0
    #: SMS segment count → number of clauses.
    segments: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    longest: tuple[int, str] = (0, "")
    #: Clauses whose single-item SMS cannot name the benefit within the budget in some variant (a long
    #: title or amount): that SMS counts it instead, with the link (digest templates).
    counted: set[str] = dataclasses.field(default_factory=set)
    #: Those of them whose SMS counts the benefit even for a typical firm (:func:`_typical`).
    counted_typical: set[str] = dataclasses.field(default_factory=set)


def sample_content(
    catalogue: model.Catalogue, clause: model.Clause, sign_name: str, *, closed: bool = False, kind: str = "new",
    firm: str = SAMPLE_FIRM, amount: float = SAMPLE_AMOUNT,
) -> content_module.NoticeContent:
    """The notice a typical firm would get for ``clause`` (an amount where the clause computes one):
    written while its window is open, or after it closed (``closed``; the longer words); announcing
    it, or a change of its amount (``kind`` addition or adjustment, with a reason the length of the
    longest attribute name an SMS carries); for the firm ``firm``."""
    computes = clause.benefit is not None and clause.benefit.formula is not None
    decision = matching.Decision(
        clause.id, clause.cite, clause.rule_version, matching.Verdict.MET, amount=amount if computes else None,
        facts={"ip_buy_amount_year": 1.0},
    )
    previous = dataclasses.replace(decision, facts={"ip_buy_amount_year": 2.0})
    change = None if kind == outbox.NEW else content_module.Change(kind, SAMPLE_AMOUNT, previous)
    today = clause.valid_from
    if closed and clause.valid_to is not None:
        today = clause.valid_to + dt.timedelta(days=1)
    token = unsubscribe.make_token("lint", SAMPLE_USCC, "email")
    return content_module.build(
        catalogue, decision, {"uscc": SAMPLE_USCC, "name": firm},
        notice_id=SAMPLE_NOTICE_ID, sign_name=sign_name,
        unsubscribe_url=unsubscribe.unsubscribe_url(SAMPLE_BASE_URL, token),
        period=matching.period_for(clause.mode, today), change=change, today=today,
        short_link=firm_links.make_short_token("lint", SAMPLE_USCC), site=SAMPLE_BASE_URL,
    )


def samples(catalogue: model.Catalogue, clause: model.Clause, sign_name: str) -> list[content_module.NoticeContent]:
    """Every notice a clause can cause, as :func:`sample_content` writes them: announced while its window
    is open and after it closed and, where the clause computes an amount, each change of it; each for a
    firm of a typical name and for one of the longest name accepted (:data:`SAMPLE_LONG_FIRM`)."""
    found = [sample_content(catalogue, clause, sign_name, amount=SAMPLE_TYPICAL_AMOUNT)]
    for firm in (SAMPLE_FIRM, SAMPLE_LONG_FIRM):
        found.append(sample_content(catalogue, clause, sign_name, firm=firm))
        if clause.valid_to is not None:
            found.append(sample_content(catalogue, clause, sign_name, closed=True, firm=firm))
        if clause.benefit is not None and clause.benefit.formula is not None and clause.mode in render.CHANGE_NEED:
            found += [sample_content(catalogue, clause, sign_name, closed=True, kind=kind, firm=firm)
                      for kind in render.CHANGES]
    return found


def lint(catalogue: model.Catalogue, renderer: render.Renderer, *, budget: int, sign_name: str) -> LintReport:
    """Render every template for every firm-facing clause, in every variant :func:`samples` lists; report
    failures, missing facts and over-long SMS."""
    report = LintReport()
    report.problems += sms_source_problems(catalogue, renderer)
    for clause in catalogue.firm_facing():
        report.clauses += 1
        if clause.id in renderer.clause_templates:
            report.overrides += 1
        for content in samples(catalogue, clause, sign_name):
            report.problems += _lint_sms(renderer, content, budget, report)
            report.problems += _lint_email(renderer, content)
    for sample in digest_samples(catalogue, sign_name):
        report.problems += _lint_digest(renderer, sample, budget, report)
    return report


def digest_samples(catalogue: model.Catalogue, sign_name: str) -> list[digest.DigestContent]:
    """A digest of each SMS variant (automatic grants with amounts, with one whose agency sets the amount,
    with benefits to apply for, with services made known), for a typical name, a 40-character one and the
    longest accepted."""
    firm_facing = catalogue.firm_facing()
    by_mode = {mode: [c for c in firm_facing if c.mode == mode] for mode in ("auto_grant", "apply", "inform")}
    computing = [c for c in by_mode["auto_grant"] if c.benefit is not None and c.benefit.formula is not None]
    fixed = [c for c in by_mode["auto_grant"] if c.benefit is None or c.benefit.formula is None]
    mixes = {
        digest.GRANTS: computing[:3] + fixed[:1],
        digest.GRANTS_AND_APPLICATIONS: computing[:2] + by_mode["apply"][:12],
        digest.APPLICATIONS: by_mode["apply"][:3],
        digest.NEWS: by_mode["inform"][:3],
    }
    found = []
    for firm in (SAMPLE_FIRM, SAMPLE_40_FIRM, SAMPLE_LONG_FIRM):
        for variant, clauses in mixes.items():
            if len(clauses) < 2:
                continue  # a catalogue without two such clauses never makes this digest
            items = [sample_content(catalogue, clause, sign_name, firm=firm) for clause in clauses]
            found.append(digest.build(
                SAMPLE_NOTICE_ID, items, short_link=firm_links.make_short_token("lint", SAMPLE_USCC), site=SAMPLE_BASE_URL,
                firm_page_url=firm_links.page_url(SAMPLE_BASE_URL, firm_links.make_token("lint", SAMPLE_USCC)),
                unsubscribe_url=items[0].unsubscribe_url,
            ))
    return found


def _lint_digest(renderer: render.Renderer, sample: digest.DigestContent, budget: int, report: LintReport) -> list[str]:
    where = f"digest/{sample.variant}/sms.txt ({len(sample.first.firm_name)}-character name)"
    try:
        sms = renderer.render_digest_sms(sample, SAMPLE_PHONE)
        email = renderer.render_digest_email(sample, SAMPLE_EMAIL)
    except (jinja2.TemplateError, render.TemplateConfigError, render.SmsParamError) as exc:
        return [f"{where}: {type(exc).__name__}: {exc}"]
    problems = []
    segments = channels.sms_segments(sms.text)
    report.segments[segments] += 1
    if segments > budget:
        problems.append(f"{where}: {len(sms.text)} characters = {segments} SMS segments, over the budget of {budget}")
    link = f"{sample.site}/m/{sample.short_link}"
    facts = [link, SMS_OPT_OUT] + ([sample.granted_total_text] if sample.granted and sample.variant != digest.CHANGES else [])
    problems += [f"{where}: does not show {fact!r}" for fact in facts if fact not in sms.text]
    firm = sms.params["firm"]
    if len(firm) < min(constants.SMS_FIRM_MIN_CHARS, len(sample.first.firm_name)) or firm != firm_names.short_name(sample.first.firm_name, len(firm)):
        problems.append(f"{where}: addresses the firm as {firm!r}, not a short form of {sample.first.firm_name!r}")
    for item in sample.items:
        needed = [item.clause_title, item.cite, item.agency_text, item.window_text] + ([item.amount_text] if item.amount_text else [])
        needed += [item.application, item.deadline_text] if item.application else []
        problems += [f"digest/email.txt: does not show {fact!r}" for fact in needed if fact not in email.text]
        problems += [f"digest/email.html: does not show {fact!r}" for fact in needed if str(markupsafe.escape(fact)) not in email.html]
    return problems


def sms_source_problems(catalogue: model.Catalogue, renderer: render.Renderer) -> list[str]:
    """SMS templates the provider could not hold: tags, filters, repeated or adjacent variables, 【】."""
    problems = []
    specs = [(f"modes.{mode}", spec) for mode, spec in renderer.modes.items()]
    specs += [(f"clauses.{clause_id}", spec) for clause_id, spec in renderer.clauses.items()]
    specs += [(f"changes.{kind}", spec) for kind, spec in renderer.changes.items()]
    specs += [(f"digest.{variant}", spec) for variant, spec in renderer.digests.items()]
    problems += [f"{render.SMS_CONFIG}: changes.{kind}: missing (a changed amount could not be told by SMS)"
                 for kind in render.CHANGES if kind not in renderer.changes]
    problems += [f"{render.SMS_CONFIG}: digest.{variant}: missing (such a digest could not be told by SMS)"
                 for variant in digest.VARIANTS if variant not in renderer.digests]
    unknown = set(renderer.clauses) - set(catalogue.by_id)
    problems += [f"{render.SMS_CONFIG}: clauses.{clause_id}: no such clause in the catalogue" for clause_id in sorted(unknown)]
    for where, spec in specs:
        try:
            source, _, _ = renderer.env.loader.get_source(renderer.env, spec.template)  # type: ignore[union-attr]
            tree = renderer.env.parse(source)
        except jinja2.TemplateError as exc:
            problems.append(f"{spec.template}: {type(exc).__name__}: {exc}")
            continue
        problems += [f"{spec.template}: {message}" for message in _plain_problems(tree)]
        used = renderer.sms_variables(spec.template) - render.SMS_FIXED
        if used != set(spec.params):
            problems.append(f"{spec.template}: uses {sorted(used)} but {render.SMS_CONFIG} {where} declares "
                            f"{list(spec.params)}")
    for clause_id, folder in sorted(renderer.clause_templates.items()):
        if (folder / "sms.txt").is_file() and clause_id not in renderer.clauses:
            problems.append(f"{render.CLAUSE_PREFIX}/{clause_id}/sms.txt: needs its own entry under 'clauses' in "
                            f"{render.SMS_CONFIG} (a reviewed template has one code)")
    return problems


def provider_text(renderer: render.Renderer, template: str) -> str:
    """An SMS template as filed with the provider: ``{{ name }}`` written ``${name}``."""
    source, _, _ = renderer.env.loader.get_source(renderer.env, template)  # type: ignore[union-attr]
    parts = []
    for output in renderer.env.parse(source).body:
        for child in getattr(output, "nodes", ()):
            # Anything but text and names is refused by lint; shown as ${?} here rather than failing.
            name = getattr(child, "name", "?")
            parts.append(child.data if isinstance(child, nodes.TemplateData) else f"${{{name}}}")
    return "".join(parts).strip()


def _plain_problems(tree: nodes.Template) -> list[str]:
    problems = []
    seen: collections.Counter[str] = collections.Counter()
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            problems.append(f"only {{{{ name }}}} substitutions are allowed (found {type(output).__name__})")
            continue
        previous = None
        for child in output.nodes:
            if isinstance(child, nodes.Name):
                seen[child.name] += 1
                if isinstance(previous, nodes.Name):
                    problems.append(f"variables {previous.name} and {child.name} are adjacent (providers refuse that)")
            elif isinstance(child, nodes.TemplateData):
                if "【" in child.data or "】" in child.data:
                    problems.append("【】 is reserved for the signature")
                if "\n" in child.data.strip():
                    problems.append("an SMS is one line")
            else:
                problems.append(f"only {{{{ name }}}} substitutions are allowed (found {type(child).__name__})")
            previous = child
    problems += [f"variable {name} appears {count} times (once at most)" for name, count in seen.items() if count > 1]
    return problems


def _lint_sms(
    renderer: render.Renderer, content: content_module.NoticeContent, budget: int, report: LintReport
) -> list[str]:
    where = f"{content.clause_id}: {renderer.sms_template_name(content.clause_id, content.mode, content.kind)}"
    try:
        message = renderer.render_sms(content, SAMPLE_PHONE)
    except (jinja2.TemplateError, render.TemplateConfigError, render.SmsParamError) as exc:
        return [f"{where}: {type(exc).__name__}: {exc}"]
    problems = []
    length, segments = len(message.text), channels.sms_segments(message.text)
    if content.application_closed:
        # Never "您可申请" once the time to apply has passed: sent counted (compose.Composer).
        return _lint_digest(renderer, _counted(content), budget, report)
    if segments > budget:
        # Too long to name the benefit: sent as a digest of one, which counts it (compose.Composer); reported,
        # and for a typical firm (a typical name and amount, the window open) told apart.
        report.counted.add(content.clause_id)
        if _typical(content):
            report.counted_typical.add(content.clause_id)
        return _lint_digest(renderer, _counted(content), budget, report)
    report.segments[segments] += 1
    report.longest = max(report.longest, (length, content.clause_id))
    # The SMS addresses the firm by a short form (the name itself where it fits); the email in full.
    firm = message.params.get("firm", content.firm_short_name)
    if not firm or firm != firm_names.short_name(content.firm_name, len(firm)):
        problems.append(f"{where}: addresses the firm as {firm!r}, not a short form of {content.firm_name!r}")
    # The link carries the rest (basis, agency, window, how to apply): the SMS must carry the link.
    facts = [firm, content.clause_title, firm_links.short_url(content.site, content.short_link), SMS_OPT_OUT]
    facts += [text for text in (content.amount_text, content.previous_amount_text, content.total_amount_text) if text]
    # An application's deadline (or that it has passed) is never left to the page.
    facts += [content.deadline_short] if content.kind == outbox.NEW and content.needs_application else []
    problems += [f"{where}: does not show {fact!r}" for fact in facts if fact not in message.text]
    return problems


def _counted(content: content_module.NoticeContent) -> digest.DigestContent:
    """The digest of one that an SMS too long to name its benefit is sent as (compose.Composer)."""
    return digest.build(content.notice_id, [content], short_link=content.short_link, site=content.site,
                        firm_page_url=SAMPLE_BASE_URL, unsubscribe_url=content.unsubscribe_url)


def _typical(content: content_module.NoticeContent) -> bool:
    """A first announcement, while the window is open, to a firm of a typical name (:data:`SAMPLE_FIRM`) of a
    typical amount where there is one (:data:`SAMPLE_TYPICAL_AMOUNT`)."""
    return (content.firm_name == SAMPLE_FIRM and content.kind == outbox.NEW and not content.window_closed
            and content.amount in (None, SAMPLE_TYPICAL_AMOUNT))


def _lint_email(renderer: render.Renderer, content: content_module.NoticeContent) -> list[str]:
    problems = []
    values = content.template_vars()
    facts = [content.firm_name, content.clause_title, content.document_title, content.clause_ref, content.cite,
             content.agency_text, content.window_text, content.application_need, content.unsubscribe_url]
    facts += [text for text in (content.amount_text, content.application, content.previous_amount_text,
                                content.total_amount_text, content.reason_text, content.period_text) if text]
    if content.needs_application:
        facts.append(content.deadline_text)
    for name in ("email_subject.txt", "email.txt", "email.html"):
        template = renderer.template_name(content.clause_id, content.mode, name)
        where = f"{content.clause_id}: {template}"
        try:
            text = renderer.env.get_template(template).render(values)
        except (jinja2.TemplateError, render.TemplateConfigError) as exc:
            problems.append(f"{where}: {type(exc).__name__}: {exc}")
            continue
        if name == "email_subject.txt":
            needed = [content.clause_title]
        else:
            needed = [str(markupsafe.escape(fact)) for fact in facts] if name.endswith(".html") else facts
        problems += [f"{where}: does not show {fact!r}" for fact in needed if fact not in text]
    return problems


@click.group()
@click.option("--templates-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Notice templates (default: ${render.TEMPLATES_DIR_VAR}, else the repository's templates/).")
@click.option("--rules-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Rule files (default: $POLICY_PUSH_RULES_DIR, else the repository's rules/).")
@click.pass_context
def templates(ctx: click.Context, templates_dir: Path | None, rules_dir: Path | None) -> None:
    """Notice templates (SMS and email): check and list them."""
    ctx.meta[_DIRS] = (templates_dir, rules_dir)


def _open(ctx: click.Context) -> tuple[model.Catalogue, render.Renderer]:
    templates_dir, rules_dir = ctx.meta.get(_DIRS, (None, None))
    try:
        # Quotations are `rules lint`'s business; templates only need the clauses.
        catalogue = loader.load(rules_dir, verify_texts=False)
        renderer = render.Renderer(templates_dir, rules=rules_dir)
    except loader.CatalogueError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(1)
    except render.TemplateConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    return catalogue, renderer


@templates.command("lint")
@click.option("--segments", "budget", type=click.IntRange(min=1), default=DEFAULT_SEGMENT_BUDGET,
              envvar=SEGMENT_BUDGET_VAR, show_default=True, help=f"SMS segment budget (${SEGMENT_BUDGET_VAR}).")
@click.option("--sign-name", default=constants.SMS_SIGN_NAME, envvar=SIGN_NAME_VAR, show_default=True,
              help="SMS signature, counted in the length.")
@click.pass_context
def lint_command(ctx: click.Context, budget: int, sign_name: str) -> None:
    """Render every template for every firm-facing clause with sample data; exit 1 on any problem."""
    catalogue, renderer = _open(ctx)
    report = lint(catalogue, renderer, budget=budget, sign_name=sign_name)
    for problem in report.problems:
        click.echo(problem)
    if report.problems:
        click.echo(f"{len(report.problems)} problem(s)", err=True)
        sys.exit(1)
    spread = ", ".join(f"{count}×{segments}" for segments, count in sorted(report.segments.items()))
    click.echo(
        f"ok: {report.clauses} firm-facing clauses × {len(render.TEMPLATE_NAMES)} templates "
        f"({report.overrides} with clause overrides); SMS segments (budget {budget}): {spread}; "
        f"longest SMS {report.longest[0]} characters ({report.longest[1]})"
    )
    if report.counted:
        click.echo(
            f"{len(report.counted)} clause(s) whose single-item SMS cannot always name the benefit within the budget "
            f"(a long name, title, amount or deadline) and is then sent counted, with the link; "
            f"{len(report.counted_typical)} of them even for a typical firm at {SAMPLE_BASE_URL}: "
            f"{', '.join(sorted(report.counted_typical)) or '-'}"
        )


@templates.command("sms")
@click.pass_context
def sms_command(ctx: click.Context) -> None:
    """List the SMS templates as filed with the provider: code, parameters, text with ${name}."""
    _, renderer = _open(ctx)
    entries = list(renderer.modes.items()) + list(renderer.clauses.items()) + list(renderer.changes.items())
    entries += [(f"digest.{variant}", spec) for variant, spec in renderer.digests.items()]
    for key, spec in entries:
        click.echo(f"{spec.template_code}\t{key}\t{','.join(spec.params)}\t{provider_text(renderer, spec.template)}")
