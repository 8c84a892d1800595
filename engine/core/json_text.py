"""Encoding and decoding stored JSON text fast, without changing what any stored value reads back as."""

from __future__ import annotations

import json
from typing import Any

import orjson


#: Each byte as "1" if it is a digit, else " ": a run of digits as long as an integer orjson misreads.
_DIGITS = bytes(0x31 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
#: orjson reads an integer past 64 bits as a float; every such integer has at least 19 digits.
_LONG_DIGIT_RUN = b"1" * 19


def decode(text: str | bytes) -> Any:
    """``json.loads(text)``, by orjson where it can (2–3× faster on a firm's fields, read on every fold).

    orjson refuses NaN and Infinity, which the standard library's decoder takes and this service's own
    encoders could have written, and reads an integer past 64 bits as a float. Those are decoded the plain
    way, so a value reads back exactly as it always did: a text orjson refuses, and any with a run of 19
    or more digits (found in a few µs, against ~9 µs for orjson to decode a firm's stamps).
    """
    if isinstance(text, str):
        raw = text.encode()
    elif isinstance(text, (bytes, bytearray)):
        raw = text
    else:
        # Not a text: SQLite hands a JSON column's number over as it is, and SQLAlchemy's SQLite JSON type
        # keeps the number when the decoder raises TypeError, which json.loads does.
        return json.loads(text)
    if _LONG_DIGIT_RUN in raw.translate(_DIGITS):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


#: orjson is told to refuse, rather than convert, datetimes and dataclasses (json.dumps refuses them) and
#: subclasses of str, int, dict and list (json.dumps writes them by its own rules): those go the plain way
#: and fare exactly as they did. Enum members orjson writes by their value, as json.dumps writes those of
#: str and int; one of neither, which json.dumps refused, is written by its value.
_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def encode(value: Any) -> str:
    """``json.dumps(value)``, by orjson where its text reads back as the same value (over 10× faster on a
    firm's fields and stamps, written on every fold); the spacing and escapes differ, the value does not.

    orjson refuses a key that is not a string, an integer past 64 bits and a lone surrogate; it writes
    NaN and Infinity as null. A value it refuses, and any whose text holds a null, is encoded the plain way
    (a None in it pays that too), so NaN and Infinity are written as json.dumps writes them.
    """
    try:
        text = orjson.dumps(value, option=_STRICT)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)
    if b"null" in text:
        return json.dumps(value)
    return text.decode()
