"""Money as the engine compares and stores it."""

from __future__ import annotations


def rounded(amount: float | None) -> float | None:
    """An amount as compared and stored: yuan to the fen (2 decimals)."""
    return None if amount is None else round(float(amount), 2)
