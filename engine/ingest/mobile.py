"""Mainland mobile numbers in one spelling: a sender may write 138 0013 8000, +86… or 0086…."""

from __future__ import annotations

import phonenumbers


def normalise(value: str) -> str:
    """E.164 form of a CN mobile number (validated already), so one number has one spelling."""
    return phonenumbers.format_number(phonenumbers.parse(value, "CN"), phonenumbers.PhoneNumberFormat.E164)
