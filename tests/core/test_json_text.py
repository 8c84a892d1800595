"""Stored JSON: what the fast encoder and decoder write and read is what json.dumps and json.loads would."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core import json_text

# Every string, lone surrogates too (json.dumps escapes them; orjson refuses them).
_TEXT = st.text(max_size=12)
_SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | _TEXT
_KEYS = _TEXT | st.integers(-5, 5) | st.booleans() | st.none() | st.floats(allow_nan=False)
_JSON = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=20
)


def _as_read(text: str) -> str:
    """What a stored text reads back as, written out the one plain way (NaN compares equal to NaN here)."""
    return json.dumps(json.loads(text))


@given(_JSON)
def test_a_value_reads_back_as_it_did_when_json_dumps_wrote_it(value):
    assert _as_read(json_text.encode(value)) == _as_read(json.dumps(value))
    assert json.dumps(json_text.decode(json_text.encode(value))) == _as_read(json.dumps(value))


class Kind(str, enum.Enum):
    SMALL = "small_scale"


@pytest.mark.parametrize("value", [
    {"tax.vat.2022-05.sales": 48000.0, "name": "昆明五华示例商贸有限公司", "employees": 12, "closed": None},
    {"rate": float("nan"), "cap": float("inf"), "floor": float("-inf")},
    {"amount": 2**64, "negative": -(2**63) - 1},
    {2022: "年度", True: "是", None: "无", 1.5: "半"},
    {"kind": Kind.SMALL, "kinds": [Kind.SMALL]},
    ["\ud800", "null", "a\u2028b", -0.0, 1e16, 5e-324],
])
def test_the_values_a_firm_and_its_decisions_hold_read_back_unchanged(value):
    assert _as_read(json_text.encode(value)) == _as_read(json.dumps(value))


def test_what_json_dumps_refused_is_still_refused():
    @dataclasses.dataclass
    class Figure:
        amount: float

    refused = (
        {"at": datetime.datetime(2022, 5, 1, tzinfo=datetime.UTC)}, {"figure": Figure(1.0)}, {"day": datetime.date(2022, 5, 1)},
    )
    for value in refused:
        with pytest.raises(TypeError):
            json.dumps(value)
        with pytest.raises(TypeError):
            json_text.encode(value)


@pytest.mark.parametrize("text", [
    '{"registered_capital": 123456789012345678901}',
    '[-9223372036854775809, 18446744073709551616, 9223372036854775807]',
    '{"id": "91530102MA6K12345X", "note": "1234567890123456789 in a text", "amount": 1.5e300}',
])
def test_a_stored_integer_past_64_bits_reads_back_as_that_integer_not_a_float(text):
    # orjson alone read 123456789012345678901 as 1.2345678901234568e+20: a firm's figure changed by reading it.
    assert repr(json_text.decode(text)) == repr(json.loads(text))
    assert repr(json_text.decode(text.encode())) == repr(json.loads(text))


@pytest.mark.parametrize("value", [5, 2.5, None])
def test_what_is_not_a_text_is_refused_with_a_type_error_as_json_loads_refuses_it(value):
    # SQLite hands a JSON column holding a bare number over as that number; SQLAlchemy's SQLite JSON type
    # keeps it when the decoder raises TypeError. Any other error broke every read of such a row.
    with pytest.raises(TypeError):
        json.loads(value)
    with pytest.raises(TypeError):
        json_text.decode(value)
