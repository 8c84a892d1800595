"""Shared fixtures: the real catalogue and both matchers, built once per session."""

from __future__ import annotations

import pytest

from engine.judging.catalogue import durable, loader, model, reference


@pytest.fixture(scope="session")
def catalogue() -> model.Catalogue:
    return loader.load()


@pytest.fixture(scope="session")
def ref(catalogue: model.Catalogue) -> reference.ReferenceMatcher:
    return reference.ReferenceMatcher(catalogue)


@pytest.fixture(scope="session")
def engine_matcher(catalogue: model.Catalogue) -> durable.DurableMatcher:
    return durable.DurableMatcher(catalogue)


@pytest.fixture(scope="session", params=["reference", "durable"])
def matcher(request: pytest.FixtureRequest, ref: reference.ReferenceMatcher, engine_matcher: durable.DurableMatcher):
    """Each test using it runs once per evaluator."""
    return ref if request.param == "reference" else engine_matcher
