"""The console's decision and clause pages say which value of a dated parameter was used and from which day.

The pages are rendered from their templates with the judged decision's explanation (the small
catalogue of tests/catalogue/test_dated_params.py, whose rent months rise on 2022-07-01).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import jinja2
import pytest

from engine import console
from engine.console import explain, labels, view
from engine.judging.catalogue import reference
from tests.catalogue.test_dated_params import BEFORE, CHANGE, RENTER, catalogue, dirs  # noqa: F401 - fixtures

_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(console.TEMPLATES), autoescape=True,
                          trim_blocks=True, lstrip_blocks=True)
_ENV.filters.update({"pii": lambda value, *_, **__: value, "china_time": console.china_time, "reason": str,
                     "audit_action": str})


@dataclasses.dataclass
class _Row:
    """The fields of a stored decision the page reads."""

    explanation: dict
    amount: float | None
    id: int = 1
    uscc: str = "91530102MA6K000001"
    clause_id: str = "yunnan-2022-2-3"
    cite: str = "yunnan-2022#二(三)"
    status: str = "met"
    rule_version: str = "v1"
    facts: dict = dataclasses.field(default_factory=dict)
    created_at: dt.datetime = dt.datetime(2022, 7, 1, tzinfo=dt.UTC)
    event_id: str | None = None
    approval: str | None = None
    as_of: dt.date = CHANGE


def _render(template: str, **context) -> str:
    html = _ENV.get_template(template).render(L=labels, E=explain, link=view.link, fmt=view.fmt, money=view.money,
                                              **context)
    return re.sub(r"\s+", " ", html)


def _decision_page(catalogue, day: dt.date) -> str:
    (decision,) = reference.ReferenceMatcher(catalogue).evaluate(RENTER, day, clause_ids={"yunnan-2022-2-3"})
    row = _Row(decision.explanation, decision.amount)
    return _render("decision.html", d=row, clause=None, event=None, events=[], notices=[],
                   explanation=decision.explanation, other={}, responses=[])


@pytest.mark.parametrize(("day", "value", "since", "amount"), [
    (BEFORE, 3, "自2022年5月31日起", "3,000.00"), (CHANGE, 6, "自2022年7月1日起", "6,000.00")])
def test_the_decision_page_shows_the_value_used_and_its_day(catalogue, day, value, since, amount):
    html = _decision_page(catalogue, day)
    assert f"计算方法：承租国有房屋的月租金 × {value}（单位：元）" in html
    assert f"（依据：“{'减免3个月租金' if value == 3 else '自2022年7月1日起减免6个月租金'}”；{since}）</td><td>{value}</td>" in html
    assert f"结果：<strong>{amount}</strong>" in html


def test_the_clause_page_lists_the_formula_per_day_it_changes(catalogue):
    html = _render("clause.html", clause=catalogue.by_id["yunnan-2022-2-3"], clause_id="yunnan-2022-2-3", document=None,
                   decisions={}, notices={}, recent=[], gated=False, pending=0, is_admin=False, done=None,
                   verdicts=labels.VERDICT)
    assert "<li>自2022年5月31日起：承租国有房屋的月租金 × 3</li><li>自2022年7月1日起：承租国有房屋的月租金 × 6</li>" in html
    vat = _render("clause.html", clause=catalogue.by_id["yunnan-2022-2-4"], clause_id="yunnan-2022-2-4", document=None,
                  decisions={}, notices={}, recent=[], gated=False, pending=0, is_admin=False, done=None,
                  verdicts=labels.VERDICT)
    assert "增值税月销售额不超过100,000.00元（自2022年5月31日起）；150,000.00元（自2022年7月1日起）" in vat
