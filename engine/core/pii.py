"""Personal data in profiles (contact mobile, email, names): masked for viewers, and every unmasked
view by anyone else is audited (engine.audit)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

#: Profile fields that hold personal data, and how each is masked.
PII_FIELDS = {"contact.mobile": "mobile", "contact.email": "email", "contact.name": "name"}


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
