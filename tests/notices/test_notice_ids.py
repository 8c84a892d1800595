"""Notice ids: they travel in Message-ID, OutId and receipts, so each must be new and unguessable; they
begin with the time they were made, so the database's index of them grows at its end."""

from __future__ import annotations

import itertools
import re
import time

from engine.notices import outbox

SHAPE = re.compile(r"ntc_(?P<millis>[0-9a-f]{12})[0-9a-f]{20}")  # then 80 random bits


def _millis(notice_id: str) -> int:
    match = SHAPE.fullmatch(notice_id)
    assert match, notice_id
    return int(match["millis"], 16)


def test_ids_drawn_in_bulk_are_all_distinct_and_shaped_like_one_drawn_alone():
    drawn = list(itertools.islice(outbox.notice_ids(), 1000))  # across several draws of the system's randomness
    assert len(set(drawn)) == len(drawn)
    assert all(SHAPE.fullmatch(notice_id) for notice_id in [*drawn, outbox.new_notice_id()])
    # two supplies never repeat each other
    assert not set(drawn) & set(itertools.islice(outbox.notice_ids(), 1000))


def test_an_id_begins_with_the_millisecond_it_was_made_in():
    before = time.time_ns() // 1_000_000
    single, bulk = outbox.new_notice_id(), next(outbox.notice_ids())
    after = time.time_ns() // 1_000_000
    assert before <= _millis(single) <= _millis(bulk) <= after
