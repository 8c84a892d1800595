"""Chinese labels for the codes the console shows (statuses, modes, channels, event types).

Read from the glossary (engine/core/data/glossary.yaml) so pages, CSV headers, charts, notices and
docs say the same thing; an unknown code is shown
as is rather than hidden, so a new status never disappears from an operator's view.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.core import glossary, regions
from engine.ingest import event_types

_G = glossary.load()

VERDICT = _G.table("verdict")

APPROVAL = {None: "—", "": "—", **_G.table("approval")}
#: Filter values for the approval state; "none" selects decisions that never went through the gate.
APPROVAL_FILTER = {**_G.table("approval_none"), **_G.table("approval")}

MODE = _G.table("mode")

CHANNEL = _G.table("channel")

NOTICE_STATUS = _G.table("notice_status")

#: What a notice tells (engine.notices.outbox): a first announcement or a change of its amount.
NOTICE_KIND = _G.table("notice_kind")

ATTEMPT_KIND = _G.table("attempt_kind")

#: What an attempt on a notice came to (the outbox's `outcome`; a receipt's is the provider's own code,
#: shown as it is). tests/console/test_reasons.py holds this to engine/notices.
OUTCOME = _G.table("outcome")

#: Event types (engine/ingest/event_types read their labels from the glossary too).
EVENT_TYPE = event_types.REGISTRY.labels()

EVENT_STATUS = _G.table("event_status")

#: A condition's operator as a sentence says it; OP_DATE for a date.
OP = _G.table("op")
OP_DATE = _G.table("op_date")

#: A benefit's unit.
UNIT = _G.table("benefit_unit")

#: Why a clause is automatic (basis.mode.reason).
MODE_REASON = _G.table("mode_reason")

#: A firm's answer on its own page (engine.firm_page).
FIRM_RESPONSE = _G.table("firm_response")

#: What SMS a firm chose on its own page (engine.notices.outbox.SMS_PREFERENCES).
SMS_PREFERENCE = _G.table("sms_preference")

#: A notice's period: "once" for an inform clause (a year is shown as it is).
PERIOD = _G.table("period")

#: Timeline entry kinds on the firm page.
TIMELINE = _G.table("timeline")


def label(table: Mapping, code: object) -> str:
    """The Chinese label for `code`, or the code itself when the table does not know it."""
    try:
        return table.get(code, "" if code is None else str(code))
    except TypeError:  # unhashable values (a list in a condition) are shown as they are
        return str(code)


def region_name(code: object) -> str:
    """The name of a region code or prefix as operators say it (engine.core.regions.display_name):
    "63" → 青海省, "6301" → 西宁市, "630104" → 西宁市城西区; "" when the code is not one in use."""
    return regions.display_name(str(code or "").strip())


def industry_name(code: object) -> str:
    """The Chinese name of a GB/T 4754-2017 industry code (F5211 → 百货零售), "" when unknown."""
    return (glossary.industry_name(code) or "") if isinstance(code, str) else ""


#: Audit actions (engine.audit.Draft.action) in plain Chinese; a notice's change of state is named by its
#: new state (``notice.<status>``, NOTICE_STATUS). An action not listed is shown as recorded.
AUDIT_ACTION = _G.table("audit_action")


def audit_action(action: str) -> str:
    """An audit action as an officer reads it: its Chinese name, else (a notice's change of state) the
    state it went to, else the action as recorded."""
    if action in AUDIT_ACTION:
        return AUDIT_ACTION[action]
    kind, _, state = action.partition(".")
    if kind == "notice" and state in NOTICE_STATUS:
        return f"通知：{NOTICE_STATUS[state]}"
    return action
