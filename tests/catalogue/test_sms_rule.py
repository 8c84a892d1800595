"""Which clauses are worth an SMS: a concrete benefit only (issue: one readable message, not twenty).

By default an automatic grant (免申即享) or an application for a stated benefit (快申快享) goes by SMS
and email; a service or right merely made known (`inform`) by email and on the firm's page. A clause's
`sms: true|false` overrides it, loaded strictly.
"""

from __future__ import annotations

import pytest

from engine.core import matching
from engine.judging.catalogue import loader
from engine.notices import notice_rules
from tests.catalogue import test_loader
from tests.catalogue.test_loader import dirs  # noqa: F401  (the fixture: a rules folder with its source text)


@pytest.fixture(scope="module")
def catalogue():
    return loader.load(verify_texts=False)


@pytest.mark.parametrize("clause_id, mode, by_sms", [
    # yunnan-2022#二(一) "减免３个月租金": done for the firm.
    ("yunnan-2022-2-1", "auto_grant", True),
    # lvliang-2022#18 "给予不超过交易金额的 20% 资金补助": the firm applies for a stated subsidy.
    ("lvliang-2022-18", "apply", True),
    # qinghai-2022#(三) a service made known: email and the firm's page only.
    ("qinghai-2022-3", "inform", False),
])
def test_the_default_rule_sends_sms_for_concrete_benefits_only(catalogue, clause_id, mode, by_sms):
    clause = catalogue.by_id[clause_id]
    assert (clause.mode, clause.by_sms) == (mode, by_sms)


def test_no_inform_clause_of_the_catalogue_goes_by_sms(catalogue):
    firm_facing = catalogue.firm_facing()
    assert [c.id for c in firm_facing if c.mode == "inform" and c.by_sms] == []
    assert all(c.by_sms for c in firm_facing if c.mode in ("auto_grant", "apply") and c.benefit is not None)


def test_an_inform_decision_creates_an_email_notice_only(catalogue):
    clause = catalogue.by_id["qinghai-2022-3"]
    decision = matching.Decision(clause.id, clause.cite, clause.rule_version, matching.Verdict.MET, period="once",
                                 by_sms=clause.by_sms)
    assert notice_rules.notice_keys(decision) == (("email", "once"),)
    granted = catalogue.by_id["yunnan-2022-2-1"]
    decision = matching.Decision(granted.id, granted.cite, granted.rule_version, matching.Verdict.MET, 33_900.0,
                                 period="2022", by_sms=granted.by_sms)
    assert notice_rules.notice_keys(decision) == (("sms", "2022"), ("email", "2022"))


def test_a_clause_overrides_the_rule_in_its_yaml(dirs):
    rules, measures = dirs
    told = test_loader._clause(mode="inform", sms=True)
    quiet = test_loader._clause(2, title="税收", sms=False)
    test_loader._write(rules, test_loader._document(told, quiet))
    loud, silent = loader.load(rules, measures=measures).clauses
    assert (loud.mode, loud.by_sms) == ("inform", True)
    assert (silent.mode, silent.by_sms) == ("auto_grant", False)


def test_a_bad_override_names_the_file_and_key(dirs):
    problems = test_loader._problems(dirs, test_loader._document(test_loader._clause(sms="yes")))
    assert problems == ["rules/yunnan-2022/clauses.yaml: clauses[0].sms: must be true or false (whether firms are told of it by SMS too)"]
