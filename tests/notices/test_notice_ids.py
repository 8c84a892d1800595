"""Notice ids: they travel in Message-ID, OutId and receipts, so each must be new and unguessable."""

from __future__ import annotations

import itertools
import re

from engine.notices import outbox

SHAPE = re.compile(r"ntc_[0-9a-f]{24}")  # 96 random bits


def test_ids_drawn_in_bulk_are_all_distinct_and_shaped_like_one_drawn_alone():
    drawn = list(itertools.islice(outbox.notice_ids(), 1000))  # across several draws of the system's randomness
    assert len(set(drawn)) == len(drawn)
    assert all(SHAPE.fullmatch(notice_id) for notice_id in [*drawn, outbox.new_notice_id()])
    # two supplies never repeat each other
    assert not set(drawn) & set(itertools.islice(outbox.notice_ids(), 1000))
