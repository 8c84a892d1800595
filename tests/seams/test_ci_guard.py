"""On CI (`CI=true`) a missing PostgreSQL or browser fails the tests that need it; elsewhere they skip."""

from __future__ import annotations

import pytest

from tests import conftest


@pytest.mark.parametrize("environ", [{"CI": "true"}, {"CI": "TRUE"}])
def test_on_ci_a_missing_server_fails_the_test(environ):
    with pytest.raises(pytest.fail.Exception, match="no PostgreSQL reachable.*CI=true"):
        conftest.require_postgres(available=False, environ=environ)


@pytest.mark.parametrize("environ", [{}, {"CI": "false"}, {"CI": ""}])
def test_off_ci_a_missing_server_skips_the_test(environ):
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL reachable"):
        conftest.require_postgres(available=False, environ=environ)


@pytest.mark.parametrize("environ", [{"CI": "true"}, {}])
def test_a_reachable_server_lets_the_test_run(environ):
    assert conftest.require_postgres(available=True, environ=environ) is None


def test_a_missing_browser_fails_on_ci_and_skips_elsewhere():
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        conftest.missing("chromium is not installed", environ={"CI": "true"})
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        conftest.missing("chromium is not installed", environ={})
