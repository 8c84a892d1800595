"""PII inside free text: provider responses and messages echo mobile numbers and addresses.

SMS receipts carry `phone_number`, SMTP replies name the recipient; the console shows those
responses, so for a viewer every mobile number and email address found in them is masked with
the same rule as profile fields (engine.console.security.mask).
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.console import security

_MOBILE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def has_pii(text: str) -> bool:
    """Whether `text` holds a mobile number or an email address."""
    return bool(_MOBILE.search(text) or _EMAIL.search(text))


def mask_text(text: str) -> str:
    """`text` with every mobile number and email address masked."""
    text = _EMAIL.sub(lambda m: security.mask(m.group(0), "email"), text)
    return _MOBILE.sub(lambda m: security.mask(m.group(0), "mobile"), text)


def show(value: Any, unmasked: bool) -> str:
    """A provider response (text or JSON) as text, masked unless `unmasked`."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if unmasked else mask_text(text)
