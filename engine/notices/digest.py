"""What one message to a firm says about several notices at once (a digest): the facts, derived once.

A firm newly eligible for many clauses at once (a backfill, a burst of events) gets one SMS and one
email, not one per clause. The email lists every item in full (amount, basis, what was done or how and
by when to apply, the agency); the SMS, which cannot, counts them and links to the firm's own page.
"""

from __future__ import annotations

import dataclasses
import decimal
from collections.abc import Sequence
from typing import Any

from engine.notices import content as content_module
from engine.notices import outbox

#: The SMS template of a digest, by what it holds (sms_templates.yaml `digest`).
GRANTS = "grants"  # only automatic grants (免申即享)
GRANTS_AND_APPLICATIONS = "grants_and_applications"
APPLICATIONS = "applications"  # only benefits the firm may apply for (快申快享)
NEWS = "news"  # neither: services made known, sent by SMS only where a clause asks for it
CHANGES = "changes"  # only changes of amounts told before: never counted as new grants or applications
VARIANTS = (GRANTS, GRANTS_AND_APPLICATIONS, APPLICATIONS, NEWS, CHANGES)

#: The groups of the email, in order: what was done, what the firm may apply for, what it is told of.
SECTIONS = (
    ("auto_grant", "已为您办理（免申即享，无需申请）"),
    ("apply", "您可申请（快申快享，需主动申请）"),
    ("inform", "政策告知（无需办理）"),
)


@dataclasses.dataclass(frozen=True)
class DigestContent:
    """Everything a digest's templates may show; the items are the notices' own contents, in order."""

    digest_id: str
    items: tuple[content_module.NoticeContent, ...]
    #: The link an SMS carries, without the site (the site is fixed in the filed template).
    short_link: str
    #: The service's public address (POLICY_PUSH_PUBLIC_URL).
    site: str
    firm_page_url: str
    unsubscribe_url: str

    @property
    def first(self) -> content_module.NoticeContent:
        return self.items[0]

    @property
    def granted(self) -> list[content_module.NoticeContent]:
        """Items done for the firm (automatic grants, their additions and adjustments)."""
        return [item for item in self.items if item.mode == "auto_grant"]

    @property
    def applicable(self) -> list[content_module.NoticeContent]:
        """Items the firm may still apply for (one whose time to apply has passed is not counted as one the
        firm "may apply for": the page and the email tell it what that means)."""
        return [item for item in self.items if item.mode == "apply" and not item.application_closed]

    @property
    def variant(self) -> str:
        """Which SMS template fits (see :data:`VARIANTS`)."""
        if all(item.kind != outbox.NEW for item in self.items):
            return CHANGES
        if self.granted:
            return GRANTS_AND_APPLICATIONS if self.applicable else GRANTS
        return APPLICATIONS if self.applicable else NEWS

    @property
    def granted_total_text(self) -> str:
        """The money granted, as the SMS can say it truthfully: every granted item's amount in 元 added up
        (合计…元); where some have none (an amount the agency sets), only those that have one (其中…项合计…元);
        where none has, that the agency sets it."""
        # Only exact amounts in 元 add up (not months, nor a maximum the agency sets: 不超过…).
        counted = [item.amount for item in self.granted
                   if item.amount is not None and item.amount_text == content_module.format_amount(item.amount)]
        if not counted:
            return "金额以主管部门核定为准"
        total = content_module.format_amount(float(sum(decimal.Decimal(str(a)) for a in counted)))
        if len(counted) == len(self.granted):
            return f"合计{total}"
        return f"其中{len(counted)}项合计{total}"

    def template_vars(self) -> dict[str, Any]:
        """What the digest's email templates see."""
        first = self.first
        return {
            "digest_id": self.digest_id,
            "firm_name": first.firm_name,
            "uscc": first.uscc,
            "count": len(self.items),
            "granted_count": len(self.granted),
            "applicable_count": len(self.applicable),
            "granted_total_text": self.granted_total_text if self.granted else None,
            "sections": [
                (heading, [item.template_vars() for item in self.items if item.mode == mode])
                for mode, heading in SECTIONS
                if any(item.mode == mode for item in self.items)
            ],
            "firm_page_url": self.firm_page_url,
            "unsubscribe_url": self.unsubscribe_url,
            "service_name": first.service_name,
        }


def collapsed(notices: Sequence[outbox.NoticeRecord]) -> list[outbox.NoticeRecord]:
    """The items a message tells, one per benefit: notices of one clause and period going out together
    (the benefit and a change of it, recorded before the first was sent) are told as one, from what the
    firm was last told (nothing, for a NEW one) to the amount now. Returned as the newest notice of each,
    its kind and amounts rewritten to say that; in the order of each benefit's first notice."""
    groups: dict[tuple[str, str], list[outbox.NoticeRecord]] = {}
    for notice in notices:
        groups.setdefault((notice.clause_id, notice.period), []).append(notice)
    items = []
    for group in groups.values():
        group = sorted(group, key=lambda n: n.revision)
        first, last = group[0], group[-1]
        if len(group) == 1:
            items.append(first)
            continue
        # The amount now: under a cumulative cap the last addition's total, otherwise the last amount.
        now = last.amount if last.kind != outbox.ADDITION else (last.previous_amount or 0.0) + (last.amount or 0.0)
        if first.kind == outbox.NEW:
            items.append(dataclasses.replace(last, kind=outbox.NEW, amount=now, previous_amount=None, previous_decision_id=None))
        elif last.kind == outbox.ADDITION:
            added = (now or 0.0) - (first.previous_amount or 0.0)
            items.append(dataclasses.replace(last, amount=added, previous_amount=first.previous_amount,
                                             previous_decision_id=first.previous_decision_id))
        else:
            items.append(dataclasses.replace(last, previous_amount=first.previous_amount, previous_decision_id=first.previous_decision_id))
    return items


def build(
    digest_id: str,
    items: Sequence[content_module.NoticeContent],
    *,
    short_link: str,
    site: str,
    firm_page_url: str,
    unsubscribe_url: str,
) -> DigestContent:
    """The content of a digest of `items` (one item: an SMS that cannot name its benefit within the budget)."""
    if not items:
        raise ValueError("a digest holds at least one notice")
    if len({item.uscc for item in items}) != 1:
        raise ValueError("a digest is for one firm")
    return DigestContent(digest_id, tuple(items), short_link, site.rstrip("/"), firm_page_url, unsubscribe_url)
