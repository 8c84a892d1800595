"""The decision page of a notice that went out in a digest: its recipient and the message it went in."""

from __future__ import annotations

import pytest

from tests import conftest
from tests.console import seed as console_seed
from tests.console.test_pages import page
from tests.firm_page import seed
from tests.notices import test_digests

pytestmark = pytest.mark.parametrize("store", conftest.SQL_BACKENDS, indirect=True)  # the console is SQL-only


async def test_a_notice_sent_in_a_digest_shows_its_recipient_and_the_message_it_went_in(
    console_client, login, store, production_matcher
):
    await console_seed.feed_with(store, production_matcher, *seed.renter_events())
    delivery, _, email = test_digests._worker(store, production_matcher)
    await delivery.run_once()
    [message] = email.sent
    emails = [n for n in await store.firm_notices(seed.RENTER) if n.channel == "email"]
    later = [n for n in emails if n.notice_id != message.notice_id]
    assert later and all(n.digest_id == message.notice_id and n.message is None for n in later)
    await login(console_client, "wang", "viewer")
    html = await page(console_client, f"/console/decisions/{later[0].decision_id}")
    card = html[html.index(f'data-notice-id="{later[0].notice_id}"'):]
    card = card[:card.index("</table>")]
    assert "尚未发送" not in card and "收件人：" in card
    assert f"与本企业其他 {len(emails) - 1} 项通知合并为一条电子邮件发送（消息编号 <code>{message.notice_id}</code>）" in card
