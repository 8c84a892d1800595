"""From a notice row to the message its channel sends: content from the catalogue, words from templates."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from engine.core import matching
from engine.judging.catalogue import model
from engine.notices import config, content, firm_links, outbox, render, unsubscribe


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

    def __call__(
        self, notice: outbox.NoticeRecord, profile: Mapping[str, Any], decision: matching.Decision,
        previous: matching.Decision | None = None,
    ):
        """The message of `notice` announcing `decision` (for a changed amount, `previous` is the decision
        the notice before announced: what changed is told from the two)."""
        change = None
        if notice.kind != outbox.NEW:
            change = content.Change(notice.kind, notice.previous_amount, previous)
            # The notice's own amount: an addition announces the new grant, not the decision's whole.
            decision = dataclasses.replace(decision, amount=notice.amount)
        built = content.build(
            self.catalogue,
            decision,
            profile,
            notice_id=notice.notice_id,
            sign_name=self.settings.sign_name,
            unsubscribe_url=self.unsubscribe_url(notice.uscc, "email"),
            period=notice.period,
            change=change,
            firm_page_url=self.firm_page_url(notice.uscc) if notice.channel == "email" else None,
        )
        contact = profile.get("contact", {})
        if notice.channel == "sms":
            return self.renderer.render_sms(built, contact["mobile"])
        return self.renderer.render_email(built, contact["email"])
