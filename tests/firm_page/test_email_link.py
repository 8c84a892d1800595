"""Every notice email carries the firm's page link, and the link opens that firm's page; the SMS does not
(its words are fixed by the approved SMS templates)."""

from __future__ import annotations

import re

from engine.core import profile
from engine.notices import compose, outbox
from tests.firm_page import seed

_LINK = re.compile(r"(https?://[^\s<>\"]+/my/[A-Za-z0-9_.\-]+)")


async def _messages(store, config, production_matcher):
    composer = compose.Composer(production_matcher.catalogue, config.notices)
    stored = {d.id: d.decision for d in await store.decisions(seed.RENTER)}
    firm = await store.get_firm(seed.RENTER)
    nested = profile.nest(seed.RENTER, firm.fields)
    notices = [n for n in await store.firm_notices(seed.RENTER) if n.clause_id == seed.GRANT and n.kind == outbox.NEW]
    return {n.channel: composer([n], nested, stored) for n in notices}


async def test_the_email_links_to_the_firms_own_page_and_the_sms_does_not(make_client, store, config, production_matcher):
    await seed.two_firms(store, production_matcher)
    messages = await _messages(store, config, production_matcher)
    email, sms = messages["email"], messages["sms"]
    assert "查看和确认贵单位的全部政策" in email.text and "查看和确认贵单位的全部政策" in email.html
    [url] = set(_LINK.findall(email.text))
    assert url in email.html and url.startswith(config.notices.public_url + "/my/")
    assert "/my/" not in sms.text
    client = await make_client(store, matcher=production_matcher, run_pipeline=False)
    page = await (await client.get(url.removeprefix(config.notices.public_url))).text()
    assert seed.RENTER_NAME in page and seed.GRANT_AMOUNT in page
