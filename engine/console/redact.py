"""PII inside free text: provider responses and messages echo mobile numbers and addresses.

SMS receipts carry `phone_number`, SMTP replies name the recipient; the console shows those
responses, so for a viewer every mobile number and email address found in them is masked with
the same rule as profile fields (engine.console.security.mask).
"""

from __future__ import annotations

import json
from typing import Any

from engine.core import pii

#: Whether `text` holds a mobile number or an email address (the rule is engine.core.pii's).
has_pii = pii.has_pii
#: `text` with every mobile number and email address masked.
mask_text = pii.mask_text


def show(value: Any, unmasked: bool) -> str:
    """A provider response (text or JSON) as text, masked unless `unmasked`."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if unmasked else mask_text(text)
