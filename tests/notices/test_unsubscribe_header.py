"""The one-click unsubscribe headers of a real notice email, as mail clients read them.

RFC 2369 `List-Unsubscribe` is a structured field: a client takes the URL between the angle brackets
literally and does not decode RFC 2047 encoded words there, so the header must stand in the message
as plain ASCII. The message is made as the delivery worker makes it (composer, templates, the
configured sender) and read twice: by Python's `email` package and by fast-mail-parser, an
independent parser (Rust). Both decode encoded words in header values, so the header is also
checked as it stands in the message's bytes.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
import urllib.parse

import fast_mail_parser
import pytest

from engine.notices import compose, worker
from engine.web import senders
from tests.channels import conftest as smtp_fixtures
from tests.notices import helpers

PUBLIC_URL = "https://zhengce.example.gov.cn"
MAIL_FROM = "notices@push.example.cn"
UNSUBSCRIBE = re.compile(re.escape(PUBLIC_URL) + r"/unsubscribe/[A-Za-z0-9_.-]+")


@pytest.fixture
def notice_config(config, tmp_path):
    return dataclasses.replace(
        config,
        notices=dataclasses.replace(config.notices, outbox_dir=tmp_path / "outbox", secret_key="k" * 32,
                                    quiet_hours=None, public_url=PUBLIC_URL, mail_from=MAIL_FROM),
    )


async def deliver_email(store, settings, production_matcher) -> None:
    """Make an eligible firm's notices and send them through the channels `serve` would build."""
    await helpers.feed(store, *helpers.eligible_firm_events())
    composer = compose.Composer(production_matcher.catalogue, settings)
    channels = senders.build_channels(settings, {})
    await worker.DeliveryWorker(store, composer, channels).run_once()
    for channel in channels.values():
        await channel.sender.close()


async def eml_file(store, settings, production_matcher) -> bytes:
    await deliver_email(store, settings, production_matcher)
    [path] = settings.outbox_dir.glob("*.eml")
    return path.read_bytes()


async def smtp_delivery(store, settings, production_matcher) -> bytes:
    server = smtp_fixtures.SmtpTestServer(smtp_fixtures.RecordingHandler(), {}, None)
    await server.start()
    try:
        url = f"smtp://127.0.0.1:{server.port}?from={MAIL_FROM}&local_hostname=worker.test"
        await deliver_email(store, dataclasses.replace(settings, smtp_url=url), production_matcher)
    finally:
        await server.stop()
    [delivery] = server.deliveries
    return delivery.content


@pytest.mark.parametrize("store", ["memory"], indirect=True)  # the headers do not depend on the store
@pytest.mark.parametrize("send", [eml_file, smtp_delivery], ids=["eml", "smtp"])
async def test_list_unsubscribe_is_a_plain_url_that_unsubscribes_the_firm(
        send, make_client, store, notice_config, production_matcher):
    raw = await send(store, notice_config.notices, production_matcher)

    # As the header stands in the message: one line, the URL whole and plain, no encoded word.
    header_lines = [line for line in raw.partition(b"\r\n\r\n")[0].split(b"\r\n")
                    if line.lower().startswith(b"list-unsubscribe")]
    assert len(header_lines) == 2 and all(line.isascii() for line in header_lines)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    written = dict(parsed.raw_items())
    assert "=?" not in written["List-Unsubscribe"]
    url = written["List-Unsubscribe"].removeprefix("<").removesuffix(">")
    assert written["List-Unsubscribe"] == f"<{url}>" and UNSUBSCRIBE.fullmatch(url)
    assert f"List-Unsubscribe: <{url}>".encode() in header_lines
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in header_lines

    # What each parser makes of the message.
    assert parsed["List-Unsubscribe"] == f"<{url}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    independent = fast_mail_parser.parse_email(raw)
    assert independent.headers["List-Unsubscribe"] == [f"<{url}>"]
    assert independent.headers["List-Unsubscribe-Post"] == ["List-Unsubscribe=One-Click"]

    # The URL is this service's unsubscribe page for this firm: a GET shows the page and changes
    # nothing; the RFC 8058 one-click POST opts the firm out of email.
    client = await make_client(settings_=notice_config, run_pipeline=False)
    path = urllib.parse.urlsplit(url).path
    page = await client.get(path)
    assert page.status == 200 and "确认退订" in await page.text()
    assert await store.opt_outs(helpers.FIRM) == {}
    done = await client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status == 200 and set(await store.opt_outs(helpers.FIRM)) == {"email"}
