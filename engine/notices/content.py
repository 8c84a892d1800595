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

from engine.core import matching
from engine.judging.catalogue import model

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
    #: How and where to apply; set only for mode apply.
    application: str | None
    needs_application: bool
    #: One-click opt-out link for email (SMS opts out by replying T).
    unsubscribe_url: str
    #: SMS signature without the brackets, e.g. ``政策直达``.
    sign_name: str
    service_name: str

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


def build(
    catalogue: model.Catalogue,
    decision: matching.Decision,
    profile: Mapping[str, Any],
    *,
    notice_id: str,
    sign_name: str,
    unsubscribe_url: str,
    service_name: str = DEFAULT_SERVICE_NAME,
) -> NoticeContent:
    """Derive a notice's content from the decision's clause, its document and the firm's profile.

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
    firm_name = str(profile.get("name") or "").strip()
    uscc = str(profile.get("uscc") or "").strip()
    if not firm_name or not uscc:
        raise ValueError("profile lacks the firm's name or USCC")
    unit = clause.benefit.unit if clause.benefit else "none"
    amount = None if decision.amount is None else float(decision.amount)
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
        amount_text=None if amount is None else format_amount(amount, unit),
        agencies=agencies,
        valid_from=clause.valid_from,
        valid_to=clause.valid_to,
        window_text=window_text(clause.valid_from, clause.valid_to),
        deadline_text=deadline_text(clause.mode, clause.valid_to),
        application=application,
        needs_application=clause.mode == "apply",
        unsubscribe_url=unsubscribe_url,
        sign_name=sign_name,
        service_name=service_name,
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


def window_text(valid_from: dt.date, valid_to: dt.date | None) -> str:
    """The validity window in words; an open end is stated as unstated, not as 长期."""
    if valid_to is None:
        return f"{chinese_date(valid_from)}起（文件未规定截止日期）"
    return f"{chinese_date(valid_from)}至{chinese_date(valid_to)}"


def deadline_text(mode: str, valid_to: dt.date | None) -> str:
    """What the window's end means for the firm, per mode."""
    if mode == "apply":
        if valid_to is None:
            return "文件未规定申请截止日期，请尽早申请"
        return f"请于{chinese_date(valid_to)}前提出申请"
    if valid_to is None:
        return "文件未规定政策截止日期"
    return f"政策有效期至{chinese_date(valid_to)}"


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
