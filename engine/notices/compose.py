"""From a notice row to the message its channel sends: content from the catalogue, words from templates."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from engine import constants
from engine.core import matching
from engine.judging.catalogue import model
from engine.notices import channels, config, content, digest, firm_links, outbox, render, unsubscribe


def auto_grant_clauses(catalogue: model.Catalogue) -> frozenset[str]:
    """The clauses granted without application: the only ones a firm that chose SMS for grants only is texted about."""
    return frozenset(clause.id for clause in catalogue.clauses if clause.mode == "auto_grant")


class Composer:
    """Builds SMS and email messages for notices (engine.notices.worker.Composer)."""

    def __init__(self, catalogue: model.Catalogue, settings: config.NoticeSettings, renderer: render.Renderer | None = None) -> None:
        self.catalogue = catalogue
        self.settings = settings
        self.renderer = renderer or render.renderer()
        self._key = settings.signing_key()

    def unsubscribe_url(self, uscc: str, channel: str) -> str:
        return unsubscribe.unsubscribe_url(self.settings.public_url, unsubscribe.make_token(self._key, uscc, channel))

    def firm_page_url(self, uscc: str) -> str:
        """A fresh link to the firm's own page (我的政策), valid for the configured lifetime from now."""
        return firm_links.page_url(self.settings.public_url, firm_links.make_token(self._key, uscc))

    def short_link(self, uscc: str) -> str:
        """A fresh short link token to the firm's page, for an SMS (firm_links.make_short_token)."""
        return firm_links.make_short_token(self._key, uscc)

    def content(
        self, notice: outbox.NoticeRecord, profile: Mapping[str, Any], decisions: Mapping[int, matching.Decision],
        short_link: str = "",
    ) -> content.NoticeContent:
        """What one notice tells: the decision it announces (for a changed amount, with the one told before).
        An SMS's content carries `short_link` to the firm's page, an email's the full link."""
        decision = decisions[notice.decision_id]
        change = None
        if notice.kind != outbox.NEW:
            previous = decisions.get(notice.previous_decision_id) if notice.previous_decision_id is not None else None
            change = content.Change(notice.kind, notice.previous_amount, previous)
        if notice.kind != outbox.NEW or notice.amount is not None:
            # The notice's own amount: an addition announces the new grant, not the decision's whole (and a
            # benefit told once for several grants, digest.collapsed, their sum).
            decision = dataclasses.replace(decision, amount=notice.amount)
        sms = notice.channel == "sms"
        return content.build(
            self.catalogue,
            decision,
            profile,
            notice_id=notice.digest_id or notice.notice_id,
            sign_name=self.settings.sign_name,
            unsubscribe_url=self.unsubscribe_url(notice.uscc, "email"),
            period=notice.period,
            change=change,
            firm_page_url=None if sms else self.firm_page_url(notice.uscc),
            short_link=short_link if sms else "",
            site=self.settings.public_url,
        )

    def __call__(
        self, notices: Sequence[outbox.NoticeRecord], profile: Mapping[str, Any], decisions: Mapping[int, matching.Decision]
    ):
        """The one message of a digest (engine.notices.worker.Composer). Notices of one benefit going out
        together are one item (digest.collapsed). An email tells a single item in its own words and
        several as a list of every item. An SMS always carries the link to the firm's page: a single item
        names its benefit where that fits the segment budget (and is not an application whose time has
        passed); otherwise, and for several, it counts what was done and what may be applied for. Its id (the email's Message-ID, the SMS's OutId) is the
        digest's."""
        uscc, channel = notices[0].uscc, notices[0].channel
        link = self.short_link(uscc)  # one token for the message, whatever the number of its items
        items = [self.content(notice, profile, decisions, link) for notice in digest.collapsed(notices)]
        contact = profile.get("contact", {})
        if len(items) == 1 and channel == "email":
            return self.renderer.render_email(items[0], contact["email"])
        if len(items) == 1 and not items[0].application_closed:
            message = self.renderer.render_sms(items[0], contact["mobile"])
            if channels.sms_segments(message.text) <= constants.SMS_SEGMENT_BUDGET:
                return message
            # A benefit's title or the site too long to name it within the budget: counted, as several are.
        # (An application whose time has passed is counted too: its template says "您可申请".)
        built = digest.build(
            notices[0].digest_id or notices[0].notice_id, items,
            short_link=link, site=self.settings.public_url,
            firm_page_url=self.firm_page_url(uscc), unsubscribe_url=self.unsubscribe_url(uscc, "email"),
        )
        if channel == "sms":
            return self.renderer.render_digest_sms(built, contact["mobile"])
        return self.renderer.render_digest_email(built, contact["email"])
