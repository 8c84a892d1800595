"""What a notice says: every fact a template may show, derived once from the catalogue and the decision.

Templates (``templates/``) only lay these facts out; they compute nothing, so the SMS, the email
and the audit log can never disagree about an amount, a date or an agency.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import re
from collections.abc import Mapping
from typing import Any

from engine import constants
from engine.core import china_time, firm_names, matching
from engine.judging.catalogue import model
from engine.judging.derive import names
from engine.notices import outbox

#: Shown in emails as the sender's name for the service (the SMS signature is separate).
DEFAULT_SERVICE_NAME = "惠企政策直达服务"

#: What needs_application means in words, per mode (the same phrase in every channel).
APPLICATION_NEED = {
    "auto_grant": "无需申请（已为您办理）",
    "apply": "需要申请（请按下述方式提出）",
    "inform": "无需申请（政策告知）",
}

_ARABIC = re.compile(r"^\d+$")
_CENT = decimal.Decimal("0.01")


@dataclasses.dataclass(frozen=True)
class NoticeContent:
    """Everything a notice template may show; built by :func:`build`, rendered by :mod:`engine.notices.render`."""

    notice_id: str
    mode: str  # auto_grant | apply | inform
    firm_name: str
    uscc: str
    clause_id: str
    #: Machine cite, e.g. ``yunnan-2022#二(一)`` (kept verbatim for audit and for the email).
    cite: str
    #: The clause as a reader cites it: ``第1条``, ``（一）``, ``二（一）``.
    clause_ref: str
    #: The clause's title, its words and its benefit as the reader sees them: normalised
    #: (``Clause.display_*``), not with the PDF extraction's broken lines and full-width digits.
    clause_title: str
    #: The clause quoted from the document (normalised: the same words, as printed).
    clause_text: str
    document_title: str
    document_number: str | None
    issuer: str
    benefit_description: str
    #: Yuan (or the benefit's unit) as computed by the matcher; None where the clause computes none.
    amount: float | None
    #: ``48,000.00元``; None with ``amount``.
    amount_text: str | None
    agencies: tuple[str, ...]
    valid_from: dt.date
    #: None: the document states no end (shown as 未规定截止日期, never as 长期有效).
    valid_to: dt.date | None
    #: ``2022年5月31日至2022年12月31日`` / ``2022年5月31日起（文件未规定截止日期）``.
    window_text: str
    #: What the end of the window means for this mode (apply: the latest time to apply).
    deadline_text: str
    #: ``deadline_text`` as an SMS says it (``请于…前申请`` / ``政策有效期至…`` / ``请尽早申请``): no less true,
    #: fewer words; the page and the email say it in full.
    deadline_short: str
    #: How and where to apply; set only for mode apply.
    application: str | None
    needs_application: bool
    #: One-click opt-out link for email (SMS opts out by replying T).
    unsubscribe_url: str
    #: SMS signature without the brackets, e.g. ``政策直达``.
    sign_name: str
    service_name: str
    #: new | addition | adjustment (engine.notices.outbox): a first announcement, or a change of its amount.
    kind: str = "new"
    #: For a change: the amount told before (an addition: the period's total so far), as ``amount_text``.
    previous_amount_text: str | None = None
    #: For an addition: the period's total with this grant.
    total_amount_text: str | None = None
    #: For a change: why the amount changed, in full (``本年度…由…变为…``) and short enough for an SMS.
    reason_text: str | None = None
    reason_short: str | None = None
    #: ``2022年度`` for a benefit granted per year; None for a one-off service.
    period_text: str | None = None
    #: Whether the benefit's window had already closed on the day the notice was written.
    window_closed: bool = False
    #: For mode apply: whether the time to apply had passed that day (the window closed, or the application
    #: deadline the text states): the firm is then never told it "may apply" (可申请), only what that means.
    application_closed: bool = False
    #: The signed, expiring link to the firm's own page (我的政策; engine.notices.firm_links), for email;
    #: None where the notice carries none.
    firm_page_url: str | None = None
    #: The short link's token an SMS carries to the firm's page (firm_links.make_short_token), and the
    #: service's address before it (POLICY_PUSH_PUBLIC_URL, a fixed part of every filed SMS template).
    short_link: str = ""
    site: str = ""
    #: The name as an SMS addresses the firm: at most the provider's 35 characters per parameter
    #: (engine.core.firm_names.short_name); derived from ``firm_name`` when not given. Emails and the
    #: firm's page show ``firm_name`` in full.
    firm_short_name: str = ""

    def __post_init__(self) -> None:
        if not self.firm_short_name:
            object.__setattr__(
                self, "firm_short_name", firm_names.short_name(self.firm_name, constants.SMS_PARAM_MAX_CHARS)
            )

    @property
    def document_ref(self) -> str:
        """``《标题》（文号）`` or ``《标题》`` where the document has no number."""
        title = f"《{self.document_title}》"
        return f"{title}（{self.document_number}）" if self.document_number else title

    @property
    def legal_basis(self) -> str:
        """The full basis: document, clause and clause title, e.g. ``《…》二（一）“加力房租减免”``."""
        return f"{self.document_ref}{self.clause_ref}“{self.clause_title}”"

    @property
    def agency_text(self) -> str:
        """Every responsible agency, or the issuer where the clause names none."""
        if self.agencies:
            return "、".join(self.agencies)
        return f"未列明（发文单位：{self.issuer}）"

    @property
    def lead_agency(self) -> str:
        """The first agency (``等`` when there are more), else the issuer: short enough for SMS."""
        if not self.agencies:
            return self.issuer
        return self.agencies[0] + ("等" if len(self.agencies) > 1 else "")

    @property
    def application_need(self) -> str:
        """Whether the firm must apply, in words (see :data:`APPLICATION_NEED`)."""
        return APPLICATION_NEED[self.mode]

    def template_vars(self) -> dict[str, Any]:
        """The variables every email template sees: the fields plus the derived phrases above."""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        for name in ("document_ref", "legal_basis", "agency_text", "lead_agency", "application_need"):
            values[name] = getattr(self, name)
        return values


@dataclasses.dataclass(frozen=True)
class Change:
    """What a notice of a changed amount tells besides the amount (see outbox.ADDITION, outbox.ADJUSTMENT)."""

    kind: str
    #: The amount told before (an addition: the period's total so far).
    previous_amount: float | None
    #: The decision the notice before announced: its facts say what the amount was based on then.
    previous: matching.Decision | None


@dataclasses.dataclass(frozen=True)
class Reason:
    """One input of the benefit's formula whose value changed."""

    name: str
    short: str
    before: str
    after: str


def reasons(previous: matching.Decision | None, decision: matching.Decision) -> list[Reason]:
    """The named inputs of the amount (derive.names, those with a unit) whose values differ between two decisions' facts."""
    if previous is None:
        return []
    found = []
    for key, named in names.attribute_names().items():
        if not named.told_in_notices:
            continue  # not an input of any amount: named for the firm's page, never told as a change
        before, after = previous.facts.get(key), decision.facts.get(key)
        if key in decision.facts or key in previous.facts:
            if named.value_text(before) != named.value_text(after):
                found.append(Reason(named.name, named.short, named.value_text(before), named.value_text(after)))
    return found


def build(
    catalogue: model.Catalogue,
    decision: matching.Decision,
    profile: Mapping[str, Any],
    *,
    notice_id: str,
    sign_name: str,
    unsubscribe_url: str,
    service_name: str = DEFAULT_SERVICE_NAME,
    period: str | None = None,
    change: Change | None = None,
    today: dt.date | None = None,
    firm_page_url: str | None = None,
    short_link: str = "",
    site: str = "",
) -> NoticeContent:
    """Derive a notice's content from the decision's clause, its document and the firm's profile.

    `period` is the notice's period (``2022``; ``once``), `change` what a notice of a changed amount
    adds, `firm_page_url` the link to the firm's own page, `short_link` and `site` the short one an SMS
    carries, and `today` the day it is written (China time; default today): a window that closed before
    it is said to have closed.

    Raises ValueError for a clause the catalogue lacks, a clause that is not firm-facing (agency
    duties are never announced to firms), a decision that is not ``met``, or a profile without
    a name or USCC.
    """
    clause = catalogue.by_id.get(decision.clause_id)
    if clause is None:
        raise ValueError(f"{decision.clause_id}: no such clause in the catalogue")
    if not clause.firm_facing:
        raise ValueError(f"{clause.id}: not firm-facing ({clause.category}); firms are not notified of it")
    if decision.status is not matching.Verdict.MET:
        raise ValueError(f"{clause.id}: decision is {decision.status.value}; only met decisions are announced")
    document = _document(catalogue, clause)
    firm_name = firm_names.trim(str(profile.get("name") or ""))
    uscc = str(profile.get("uscc") or "").strip()
    if not firm_name or not uscc:
        raise ValueError("profile lacks the firm's name or USCC")
    unit = clause.benefit.unit if clause.benefit else "none"
    amount = None if decision.amount is None else float(decision.amount)
    today = today or china_time.today_in_china()
    closed = clause.valid_to is not None and clause.valid_to < today
    told = reasons(change.previous, decision) if change is not None else []
    previous_amount = change.previous_amount if change is not None else None
    total = (previous_amount or 0.0) + (amount or 0.0) if change is not None and change.kind == outbox.ADDITION else None
    agencies = tuple(clause.agencies)
    application = None
    if clause.mode == "apply":
        # The catalogue gives every apply clause its application text; this only guards a gap.
        application = clause.display_application or f"请联系{_lead(agencies, document.issuer)}了解申请方式"
    return NoticeContent(
        notice_id=notice_id,
        mode=clause.mode,
        firm_name=firm_name,
        uscc=uscc,
        clause_id=clause.id,
        cite=clause.cite,
        clause_ref=clause_ref(clause.cite),
        clause_title=clause.display_title,
        clause_text=clause.display_text,
        document_title=document.display_title,
        document_number=document.number,
        issuer=document.issuer,
        benefit_description=clause.benefit.display_description if clause.benefit else clause.display_title,
        amount=amount,
        amount_text=None if amount is None else amount_text(clause, amount),
        agencies=agencies,
        valid_from=clause.valid_from,
        valid_to=clause.valid_to,
        window_text=window_text(clause.valid_from, clause.valid_to, closed=closed),
        deadline_text=clause_deadline_text(clause, today),
        deadline_short=clause_deadline_text(clause, today, short=True),
        application=application,
        needs_application=clause.mode == "apply",
        unsubscribe_url=unsubscribe_url,
        sign_name=sign_name,
        service_name=service_name,
        kind=change.kind if change is not None else outbox.NEW,
        previous_amount_text=None if previous_amount is None else amount_text(clause, previous_amount),
        total_amount_text=None if total is None else amount_text(clause, total),
        reason_text="；".join(f"{r.name}由{r.before}变为{r.after}" for r in told) or (
            None if change is None else "主管部门数据更新后重新核定"),
        reason_short="、".join(f"{r.short}变化" for r in told) or (None if change is None else "数据更新后重新核定"),
        period_text=period_text(period),
        window_closed=closed,
        application_closed=clause.mode == "apply" and (
            closed or (clause.application_deadline is not None and clause.application_deadline < today)),
        firm_page_url=firm_page_url,
        short_link=short_link,
        site=site.rstrip("/"),
    )


def format_amount(amount: float, unit: str = "yuan") -> str:
    """``48000`` → ``48,000.00元``: exact to the fen, half up (never 万元: no rounding to explain)."""
    if unit == "percent":
        return f"{_plain(amount)}%"
    if unit == "months":
        return f"{_plain(amount)}个月"
    fen = decimal.Decimal(str(amount)).quantize(_CENT, rounding=decimal.ROUND_HALF_UP)
    return f"{fen:,}元"


def chinese_date(day: dt.date) -> str:
    """``2022年5月31日``."""
    return f"{day.year}年{day.month}月{day.day}日"


def window_text(valid_from: dt.date, valid_to: dt.date | None, *, closed: bool = False) -> str:
    """The validity window in words; an open end is stated as unstated, not as 长期; a window that has
    closed says so."""
    if valid_to is None:
        return f"{chinese_date(valid_from)}起（文件未规定截止日期）"
    return f"{chinese_date(valid_from)}至{chinese_date(valid_to)}" + ("（已结束）" if closed else "")


def deadline_text(
    mode: str, valid_to: dt.date | None, *, closed: bool = False,
    application_deadline: dt.date | None = None, deadline_passed: bool = False, short: bool = False,
) -> str:
    """What the window's end means for the firm, per mode; once it has passed, that it has. An application
    deadline is told only where the text states one (`application_deadline`); otherwise the firm is told the
    text sets none, and until when the measure runs. `short`: an application's, as an SMS says it (never a
    deadline the text does not state; the firm's page says the rest)."""
    if mode == "apply" and short:
        if application_deadline is not None:
            return "申请期限已过，能否申请请咨询" if deadline_passed else f"请于{chinese_date(application_deadline)}前申请"
        if valid_to is None:
            return "请尽早申请"
        return "政策已到期，能否申请请咨询" if closed else f"政策有效期至{chinese_date(valid_to)}"
    if mode == "apply":
        if application_deadline is not None:
            if deadline_passed:
                return f"原申请期限至{chinese_date(application_deadline)}，现能否申请请咨询"
            return f"请于{chinese_date(application_deadline)}前提出申请"
        if valid_to is None:
            return "文件未规定申请截止日期，请尽早申请"
        if closed:
            return f"政策有效期已于{chinese_date(valid_to)}结束，现能否申请请咨询"
        return f"文件未规定申请截止日期，政策有效期至{chinese_date(valid_to)}"
    if valid_to is None:
        return "文件未规定政策截止日期"
    if closed:
        return f"政策有效期已于{chinese_date(valid_to)}结束"
    return f"政策有效期至{chinese_date(valid_to)}"


def clause_deadline_text(clause: model.Clause, today: dt.date, *, short: bool = False) -> str:
    """:func:`deadline_text` of a clause as of `today` (China time)."""
    closed = clause.valid_to is not None and clause.valid_to < today
    deadline = clause.application_deadline
    return deadline_text(clause.mode, clause.valid_to, closed=closed, application_deadline=deadline,
                         deadline_passed=deadline is not None and deadline < today, short=short)


def amount_text(clause: model.Clause, amount: float) -> str:
    """A computed amount in words: exact (``48,000.00元``), or, where the text makes it a maximum
    (``benefit.at_most``, e.g. 给予不超过交易金额的 20% 资金补助), ``不超过…``: the agency sets the grant."""
    unit = clause.benefit.unit if clause.benefit else "none"
    text = format_amount(amount, unit)
    return f"不超过{text}" if clause.benefit is not None and clause.benefit.at_most else text


def period_text(period: str | None) -> str | None:
    """A notice period in words: ``2022`` → ``2022年度``; a one-off (``once``) has none."""
    return f"{period}年度" if period is not None and period.isdigit() else None


def clause_ref(cite: str) -> str:
    """``datong-2022#1`` → ``第1条``; ``yunnan-2022#二(一)`` → ``二（一）`` (full-width, as printed)."""
    label = cite.split("#", 1)[-1]
    if _ARABIC.match(label):
        return f"第{label}条"
    return label.replace("(", "（").replace(")", "）")


def _document(catalogue: model.Catalogue, clause: model.Clause) -> model.Document:
    for document in catalogue.documents:
        if document.slug == clause.slug:
            return document
    raise ValueError(f"{clause.id}: document {clause.slug!r} missing from the catalogue")


def _lead(agencies: tuple[str, ...], issuer: str) -> str:
    return agencies[0] if agencies else issuer


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"
