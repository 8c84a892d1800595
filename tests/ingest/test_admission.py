"""The checks every way in applies before an event is stored (engine/ingest/admission.py)."""

from __future__ import annotations

import json
import re

import pytest

from engine.ingest import admission
from tests import factories


def test_a_broker_message_without_an_id_is_refused_for_want_of_an_idempotency_key():
    # The Python AMQP clients always set one; another platform's may not.
    with pytest.raises(admission.Refused, match="no message_id"):
        admission.admit_message(json.dumps(factories.event()).encode(), None, {})


@pytest.mark.parametrize("body, words", [
    (b"\xff\xfe", "not UTF-8"),
    (b"[1, 2]", "one event (a JSON object), not a batch"),
    (b'{"type": "firm.registered"}', "the event is not valid"),
])
def test_bad_bodies_are_refused_with_the_reason(body, words):
    with pytest.raises(admission.Refused, match=re.escape(words)):
        admission.admit_message(body, "amqp-1", {})


def test_a_valid_message_becomes_the_record_the_webhook_would_store():
    body = json.dumps(factories.event(firm=factories.uscc(5)), ensure_ascii=False)
    event = admission.admit_message(body.encode(), "amqp-1", {"amqp-message-id": "amqp-1"})
    assert (event.event_id, event.body, event.uscc) == ("amqp-1", body, factories.uscc(5))
