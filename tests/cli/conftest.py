"""Fixtures of the command-line tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def environment_kept(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A command given a configuration file exports its values to this process's environment (as it
    would in its own process): start each test without POLICY_PUSH_* variables, and put the
    environment back afterwards, so no test sees another's configuration."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("POLICY_PUSH_"):
            monkeypatch.delenv(name)
    yield
    os.environ.clear()
    os.environ.update(saved)
