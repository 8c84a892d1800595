"""The firm page's rules, written once and pure: what the page says of each current decision, what a
firm's answer records (and its audit entry), and what a reason may be.

The page never claims more than the decision does: a met auto_grant clause is 已为您办理 with the amount
the matcher computed, a met apply clause only 可申请 (how, and by when), an unknown one names the data
the engine is missing and the agency holding it, and a decision still waiting for an officer's 二次确认
is only 正在核实. A decision an officer rejected, a not_met one and a clause for agencies are not shown.
"""

from __future__ import annotations

import dataclasses
import datetime
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine import audit
from engine.core import matching, records
from engine.firm_page import store
from engine.judging.catalogue import model
from engine.judging.derive import names
from engine.notices import content

#: Longest objection reason kept (characters): a paragraph, enough to say what is wrong.
REASON_MAX = 500

GRANTED = "granted"
APPLY = "apply"
INFORM = "inform"
REVIEWING = "reviewing"
MISSING = "missing"
#: The order items are listed in, and each kind's heading as the firm reads it.
KIND_HEADINGS = {
    GRANTED: "已为您办理", APPLY: "可申请", INFORM: "政策告知", REVIEWING: "正在核实", MISSING: "需补充数据",
}
_ORDER = {kind: index for index, kind in enumerate(KIND_HEADINGS)}


class ReasonError(ValueError):
    """An objection's reason is missing or too long; the message (Chinese) names the field."""


def clean_reason(raw: Any) -> str:
    """The reason as kept: trimmed, without control characters; raise ReasonError naming 异议理由."""
    text = raw if isinstance(raw, str) else ""
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()
    if not text:
        raise ReasonError("请填写“异议理由”：说明您认为哪里有误，主管部门才能核实。")
    if len(text) > REASON_MAX:
        raise ReasonError(f"“异议理由”最多{REASON_MAX}字，您填写了{len(text)}字，请精简后再提交。")
    return text


def firm_actor(uscc: str) -> str:
    """How a firm acting on its own page appears in the audit trail."""
    return f"firm {uscc} (firm page)"


def response_audit(uscc: str, clause_id: str, decision_id: int, action: str, reason: str | None) -> audit.Draft:
    """The audit entry for a firm's answer to a decision (firm.confirmed, firm.objected)."""
    if action not in store.ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {store.ACTIONS}")
    if action == store.OBJECT and not (reason or "").strip():
        raise ValueError("an objection needs a reason")
    verb = "confirmed" if action == store.CONFIRM else "objected"
    return audit.Draft(firm_actor(uscc), f"firm.{verb}", "decision", str(decision_id),
                       {"uscc": uscc, "clause_id": clause_id, "reason": reason})


def revocation_audit(uscc: str, actor: str, at: datetime.datetime) -> audit.Draft:
    """The audit entry for an operator revoking a firm's links."""
    return audit.Draft(actor, "firm.links_revoked", "firm", uscc, {"revoked_before": at.isoformat()})


@dataclasses.dataclass(frozen=True)
class MissingData:
    """One piece of data the engine lacks to judge a clause, as the firm reads it."""

    name: str
    held_by: str


@dataclasses.dataclass(frozen=True)
class Item:
    """One of the firm's current decisions, as its page shows it."""

    clause_id: str
    decision_id: int
    kind: str
    clause_title: str
    clause_ref: str
    clause_text: str
    document_ref: str
    benefit_description: str
    #: The amount the matcher computed (已为您办理 only), e.g. ``48,000.00元``.
    amount_text: str | None
    #: How and where to apply (可申请 only).
    application: str | None
    deadline_text: str
    window_text: str
    #: The agencies responsible for the clause, or the issuer where it names none.
    agency_text: str
    missing: tuple[MissingData, ...] = ()
    #: What an officer must still verify (the clause's `needs`: facts no data feed carries).
    needs: tuple[str, ...] = ()
    #: The firm's latest answer to this decision, if any.
    response: store.FirmResponse | None = None

    @property
    def heading(self) -> str:
        return KIND_HEADINGS[self.kind]

    @property
    def anchor(self) -> str:
        """The item's id on the page (clause ids are ASCII, safe in a fragment)."""
        return f"item-{self.clause_id}"


def current(decisions: Iterable[records.StoredDecision]) -> dict[str, records.StoredDecision]:
    """The latest stored decision per clause (`decisions` in the order stored)."""
    latest: dict[str, records.StoredDecision] = {}
    for stored in decisions:
        latest[stored.decision.clause_id] = stored
    return latest


def _kind(clause: model.Clause, stored: records.StoredDecision) -> str | None:
    status = stored.decision.status
    if status == matching.Verdict.UNKNOWN:
        return MISSING
    if status != matching.Verdict.MET or stored.approval == "rejected":
        return None
    if stored.approval == "pending":
        return REVIEWING  # an officer has not yet confirmed it: never told as granted
    return {"auto_grant": GRANTED, "apply": APPLY}.get(clause.mode, INFORM)


def _missing(decision: matching.Decision, agency_text: str) -> tuple[MissingData, ...]:
    named = names.attribute_names()
    found = []
    for key in decision.explanation.get("missing") or ():
        entry = named.get(key)
        # Every attribute is named (tests/derive/test_attribute_names.py); an unnamed one is never shown as a code.
        found.append(MissingData(entry.name, entry.held_by) if entry else MissingData("其他相关数据", agency_text))
    return tuple(dict.fromkeys(found))


def items(
    catalogue: model.Catalogue,
    decisions: Sequence[records.StoredDecision],
    responses: Sequence[store.FirmResponse],
    today: datetime.date,
) -> list[Item]:
    """What the firm's page lists: one item per firm-facing clause whose latest decision is met (and not
    rejected by an officer) or unknown, granted first, then what it may apply for, then what needs data."""
    documents = {document.slug: document for document in catalogue.documents}
    answered: Mapping[int, store.FirmResponse] = {r.decision_id: r for r in responses}  # the latest wins
    shown = []
    for clause_id, stored in current(decisions).items():
        clause = catalogue.by_id.get(clause_id)
        if clause is None or not clause.firm_facing:
            continue
        kind = _kind(clause, stored)
        if kind is None:
            continue
        document = documents[clause.slug]
        closed = clause.valid_to is not None and clause.valid_to < today
        agency_text = "、".join(clause.agencies) or document.issuer
        amount = stored.decision.amount
        title = f"《{document.display_title}》"
        shown.append(Item(
            clause_id=clause.id,
            decision_id=stored.id,
            kind=kind,
            clause_title=clause.display_title,
            clause_ref=content.clause_ref(clause.cite),
            clause_text=clause.display_text,
            document_ref=f"{title}（{document.number}）" if document.number else title,
            benefit_description=clause.benefit.display_description if clause.benefit else clause.display_title,
            amount_text=content.amount_text(clause, float(amount)) if kind == GRANTED and amount is not None else None,
            application=(clause.display_application or f"请联系{agency_text}了解申请方式") if kind == APPLY else None,
            deadline_text=content.clause_deadline_text(clause, today),
            window_text=content.window_text(clause.valid_from, clause.valid_to, closed=closed),
            agency_text=agency_text,
            missing=_missing(stored.decision, agency_text) if kind == MISSING else (),
            needs=tuple(clause.needs) if kind == MISSING else (),
            response=answered.get(stored.id),
        ))
    return sorted(shown, key=lambda item: (_ORDER[item.kind], item.clause_id))
