"""The firm page tests: the service's app with a known signing key (links made in the tests open pages)."""

from __future__ import annotations

import dataclasses

import pytest

from engine import settings
from tests import factories

SECRET = "firm-page-test-signing-key-0123456789"


@pytest.fixture
def config(tmp_path) -> settings.Settings:
    base = settings.Settings(webhook_secrets=(factories.SECRET,))
    return dataclasses.replace(base, notices=dataclasses.replace(base.notices, outbox_dir=tmp_path / "outbox", secret_key=SECRET))
