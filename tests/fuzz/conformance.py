"""What every fuzzed answer must satisfy: the schemathesis checks, and how a refusal lists its problems."""

from __future__ import annotations

from typing import Any

from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks

#: No server error; status code, content type and body as the served document says.
CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


def assert_problems_listed(response: Any) -> None:
    """No 5xx; a 422 lists every problem, and so does each rejected item of a batch, with a
    JSON Pointer `path` and a `reason`."""
    assert response.status_code < 500, response.text
    if response.status_code not in (200, 422):
        return
    document = response.json()  # requests' or schemathesis' response: both parse JSON
    if isinstance(document, dict) and "results" in document:
        for result in document["results"]:
            if result["status"] == "rejected":
                _assert_problems(result.get("problems"), result)
    elif response.status_code == 422:
        _assert_problems(document.get("problems"), document)


def _assert_problems(problems: Any, context: Any) -> None:
    assert problems, f"refused without problems: {context}"
    for problem in problems:
        assert isinstance(problem.get("path"), str) and (problem["path"] == "" or problem["path"].startswith("/")), problem
        assert isinstance(problem.get("reason"), str) and problem["reason"], problem
