"""Personal data in profiles (contact mobile, email, names): masked for viewers, and every unmasked
view by anyone else is audited (engine.audit)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

#: Profile fields that hold personal data, and how each is masked.
PII_FIELDS = {"contact.mobile": "mobile", "contact.email": "email", "contact.name": "name"}

#: The keys under which event data carries those fields (the last part of each path), and their kind.
PII_KEYS = {path.rpartition(".")[2]: kind for path, kind in PII_FIELDS.items()}

_MOBILE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def mask(value: str | None, kind: str) -> str:
    """138****8000 / f***@example.cn / 张* — enough to recognise, not enough to use."""
    if not value:
        return ""
    if kind == "mobile":
        digits = value.removeprefix("+86")
        return digits[:3] + "****" + digits[-4:] if len(digits) >= 7 else "****"
    if kind == "email":
        local, _, domain = value.partition("@")
        return (local[:1] + "***@" + domain) if domain else "***"
    return value[:1] + "*" * max(1, len(value) - 1)


def mask_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Flat profile fields with the personal ones masked."""
    return {path: mask(value, PII_FIELDS[path]) if path in PII_FIELDS and isinstance(value, str) else value for path, value in fields.items()}


def mask_profile(profile: Mapping[str, Any]) -> dict[str, Any]:
    """A nested profile (docs/profile.md) with the personal fields masked."""
    masked = copy.deepcopy(dict(profile))
    contact = masked.get("contact")
    if isinstance(contact, dict):
        for key, kind in (("mobile", "mobile"), ("email", "email"), ("name", "name")):
            if isinstance(contact.get(key), str):
                contact[key] = mask(contact[key], kind)
    return masked


def present(fields: Mapping[str, Any]) -> list[str]:
    """The personal fields a profile actually holds (what an unmasked view reveals)."""
    return sorted(path for path in PII_FIELDS if fields.get(path))


def has_pii(text: str) -> bool:
    """Whether free text holds a mobile number or an email address."""
    return bool(_MOBILE.search(text) or _EMAIL.search(text))


def mask_text(text: str) -> str:
    """Free text with every mobile number and email address in it masked."""
    text = _EMAIL.sub(lambda m: mask(m.group(0), "email"), text)
    return _MOBILE.sub(lambda m: mask(m.group(0), "mobile"), text)


def mask_data(value: Any, keys: Mapping[str, str]) -> tuple[Any, set[str]]:
    """JSON-like data (an event body) with personal data masked, and the kinds that were masked.
    A string under one of `keys` is masked as that kind whatever its spelling (138 0013 8000);
    every other string has the mobile numbers and email addresses found in it masked."""
    found: set[str] = set()

    def walk(item: Any, key: str | None) -> Any:
        if isinstance(item, dict):
            return {k: walk(v, k) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, None) for v in item]
        if isinstance(item, str) and item:
            if key in keys:
                found.add(keys[key])
                return mask(item, keys[key])
            masked = mask_text(item)
            if masked != item:
                found.add("text")
            return masked
        return item

    return walk(value, None), found
