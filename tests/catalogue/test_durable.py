"""The durable-rules matcher: compilation, engine limits, sessions, threads, fallback."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading

import pytest

from engine.core import matching
from engine.judging.catalogue import compiler, durable, model, reference

D = dt.date
MET, UNKNOWN = matching.Verdict.MET, matching.Verdict.UNKNOWN


def _synthetic(catalogue: model.Catalogue, conditions: list[model.Condition], *, template: str = "lvliang-2022-1"):
    """A catalogue of copies of one real clause, one per condition tree given (ids syn-0, syn-1, ...)."""
    base = catalogue.by_id[template]
    clauses = tuple(
        dataclasses.replace(base, id=f"syn-{n}", cite=f"syn#{n}", conditions=node, needs=(), benefit=None)
        for n, node in enumerate(conditions)
    )
    return model.Catalogue(catalogue.documents, clauses)


def _leaf(attr, op, value, path="all[0]"):
    return model.Leaf(attr, op, value, path)


def _group(kind, *children):
    return model.Group(kind, tuple(children), "")


LVLIANG = {"region": "141102"}


def test_every_rule_is_guarded_and_named_by_its_clause(catalogue, engine_matcher):
    names = [name for ruleset in engine_matcher.rulesets for name in ruleset]
    assert names == [c.id for c in catalogue.executable()]
    for ruleset in engine_matcher.rulesets:
        assert sum(compiler.branches(catalogue.by_id[name].conditions) for name in ruleset) <= compiler.MAX_BRANCHES
        for definition in ruleset.values():
            assert definition["all"][0]["m"]["$and"][0] == {"kind": "firm"}
    assert compiler.problems(engine_matcher.rulesets, catalogue) == []
    assert len(engine_matcher.rulesets) >= 2  # the catalogue does not fit one ruleset


def test_compiled_rule_shape(catalogue):
    rule = compiler.rule(catalogue.by_id["qinghai-2022-2"])
    assert compiler.dumps(rule) == (
        '{"all":[{"m":{"$and":[{"kind":"firm"},{"$mt":{"region":"63[0-9][0-9][0-9][0-9]"}},'
        '{"$gte":{"as_of":20220227}},{"$and":[{"taxpayer_type":"small_scale"},'
        '{"$lte":{"vat_monthly_sales":150000}}]}]}}]}'
    )
    assert compiler.branches(catalogue.by_id["qinghai-2022-2"].conditions) == 1
    six = compiler.rule(catalogue.by_id["yangquan-chengqu-2023-4-six"])
    assert compiler.dumps(six) == (
        '{"all":[{"m":{"$and":[{"kind":"firm"},{"region":"140302"},{"$gte":{"as_of":20230210}},'
        '{"$lte":{"as_of":20251231}},{"$or":[{"taxpayer_type":"small_scale"},{"small_low_profit":true},'
        '{"legal_form":"individual_business"}]}]}}]}'
    )
    assert compiler.branches(catalogue.by_id["yangquan-chengqu-2023-4-six"].conditions) == 3
    assert compiler.jurisdiction_condition("140302") == {"region": "140302"}
    assert compiler.jurisdiction_condition("141100") == {"$mt": {"region": "1411[0-9][0-9]"}}
    assert compiler.jurisdiction_condition("100000") == {"$mt": {"region": "[0-9]" * 6}}


@pytest.mark.parametrize(
    ("value", "text"),
    [(150000.0, "150000"), (150000.5, "150000.5"), (1e-9, "0.000000001"), (1.5e-7, "0.00000015"),
     (1e20, "1000000000000000"), (-1e20, "-1000000000000000"), (10**30, "1000000000000000"), (-0.0, "0"),
     (0.1, "0.1"), (7, "7")],
)
def test_numbers_never_use_exponents(value, text):
    assert compiler.number(value) == text


def test_facts_leave_absent_values_out_and_carry_accumulators_per_clause(catalogue):
    reads = compiler.accumulator_reads(catalogue)
    # Only the clause declaring a cap reads its own grant total.
    assert reads == [(c.id, "granted_year") for c in catalogue.executable() if c.cap is not None] \
        == [("lvliang-2022-18", "granted_year")]
    fact = compiler.fact({"sme": True, "region": "141102", "ip_buy_amount_year": None}, D(2022, 6, 1), reads,
                         {"lvliang-2022-18": {"granted_year": 7.0}})
    assert fact == {"sme": True, "region": "141102", "granted_year@lvliang-2022-18": 7.0,
                    "kind": "firm", "as_of": 20220601}
    assert compiler.dumps({"size_class": "小型", "x y": 1e-9}) == '{"size_class":"小型","x y":0.000000001}'


PREFIXES = ["a.b", "a(b", "a)b", "a*b", "a+b", "a?b", "a|b", "a{b", "a}b", "a$b", "小型", "C33"]
SUBJECTS = ["a.bc", "axbc", "a(bc", "a)bc", "a*bc", "a+bc", "a?bc", "a|bc", "a{bc", "a}bc", "a$bc", "abc",
            "a.b", "小型企业", "小", "C3311", "C3", "c3311", "xC33"]


def test_prefix_matches_exactly_like_startswith(catalogue):
    conditions = [_group("all", _leaf("industry", "prefix", p)) for p in PREFIXES]
    synthetic = _synthetic(catalogue, conditions)
    matcher = durable.DurableMatcher(synthetic)
    ref = reference.ReferenceMatcher(synthetic)
    for subject in SUBJECTS:
        attributes = {**LVLIANG, "industry": subject}
        expected = {f"syn-{n}" for n, p in enumerate(PREFIXES) if subject.startswith(p)}
        assert matcher.met_ids(attributes, D(2022, 6, 1)) == expected, subject
        assert ref.met_ids(attributes, D(2022, 6, 1)) == expected, subject


@pytest.mark.parametrize("value", ["a\\b", "a[b", "a]b", "a^b"])
def test_prefixes_the_engine_cannot_match_are_refused(catalogue, value):
    synthetic = _synthetic(catalogue, [_group("all", _leaf("industry", "prefix", value))])
    with pytest.raises(compiler.CompileError, match="cannot match literally"):
        compiler.plan(synthetic)


def test_operators_and_chinese_values(catalogue):
    conditions = [
        _group("all", _leaf("size_class", "eq", "小型")),
        _group("all", _leaf("size_class", "ne", "大型")),
        _group("all", _leaf("industry_division", "in", ("52", "62"))),
        _group("all", _leaf("employees", "lt", 300), _leaf("employees", "ge", 10.5)),
        _group("any", _leaf("revenue", "le", 0.1), _leaf("revenue", "gt", 1e12)),
    ]
    synthetic = _synthetic(catalogue, conditions)
    matcher, ref = durable.DurableMatcher(synthetic), reference.ReferenceMatcher(synthetic)
    cases = [
        ({"size_class": "小型", "industry_division": "62", "employees": 10.5, "revenue": 0.1},
         {"syn-0", "syn-1", "syn-2", "syn-3", "syn-4"}),
        ({"size_class": "大型", "industry_division": "61", "employees": 300.0, "revenue": 0.1000001}, set()),
        ({"employees": 10.49, "revenue": 2e12}, {"syn-4"}),
        ({}, set()),  # `ne` on an absent attribute is unknown, never met
    ]
    for attributes, expected in cases:
        assert matcher.met_ids({**LVLIANG, **attributes}, D(2022, 6, 1)) == expected, attributes
        assert ref.met_ids({**LVLIANG, **attributes}, D(2022, 6, 1)) == expected, attributes


def test_packing_keeps_every_assert_under_the_engine_limit(catalogue):
    # 66 clauses that all match. (Identical conditions are shared nodes in the engine, so the
    # thresholds differ per clause.)
    conditions = [_group("all", _leaf("employees", "gt", -n - 1)) for n in range(66)]
    synthetic = _synthetic(catalogue, conditions)
    matcher = durable.DurableMatcher(synthetic)
    assert [len(r) for r in matcher.rulesets] == [60, 6]
    attributes = {**LVLIANG, "employees": 5.0}
    everything = {f"syn-{n}" for n in range(66)}
    assert matcher.met_ids(attributes, D(2022, 6, 1)) == everything
    # The same rules in one ruleset overflow the engine's 64-entry stack of pending alpha nodes
    # (error 303) -- even when few of them match; the evaluator is then replaced, never reused.
    crowded = durable.DurableMatcher(synthetic, max_branches=66)
    assert len(crowded.rulesets) == 1
    for employees in (5.0, -60.5):  # 66 matching, then 6
        with pytest.raises(durable.EngineError, match="303"):
            crowded.met_ids({**LVLIANG, "employees": employees}, D(2022, 6, 1))
    broken = crowded._local.evaluator
    assert broken.broken
    assert crowded.met_ids({"region": "530102", "employees": 5.0}, D(2022, 6, 1)) == frozenset()
    assert crowded.evaluator() is not broken


def test_or_branches_count_and_fire_once_per_clause(catalogue):
    conditions = [_group("any", _leaf("employees", "gt", -n - 1), _leaf("revenue", "gt", -n - 1, "any[1]"))
                  for n in range(33)]
    matcher = durable.DurableMatcher(_synthetic(catalogue, conditions))
    assert [len(r) for r in matcher.rulesets] == [30, 3]  # 2 branches each
    attributes = {**LVLIANG, "employees": 5.0, "revenue": 5.0}
    assert matcher.met_ids(attributes, D(2022, 6, 1)) == {f"syn-{n}" for n in range(33)}


def test_partial_matches_count_against_the_engine_limit_too(catalogue):
    # 70 clauses whose first condition matches and whose second fails: nothing fires, yet the
    # pending matches alone overflow one ruleset. Packing by branches (matching or not) prevents it.
    conditions = [_group("all", _leaf("employees", "gt", -n - 1), _leaf("revenue", "lt", 0, "all[1]"))
                  for n in range(70)]
    synthetic = _synthetic(catalogue, conditions)
    attributes = {**LVLIANG, "employees": 5.0, "revenue": 5.0}
    assert durable.DurableMatcher(synthetic).met_ids(attributes, D(2022, 6, 1)) == frozenset()
    with pytest.raises(durable.EngineError, match="303"):
        durable.DurableMatcher(synthetic, max_branches=70).met_ids(attributes, D(2022, 6, 1))


def test_clause_too_big_for_a_ruleset_is_refused(catalogue):
    many = tuple(_leaf("industry_division", "in", tuple(f"{n:02d}" for n in range(k, k + 40))) for k in (0, 40))
    synthetic = _synthetic(catalogue, [_group("all", *many)])  # 40 x 40 = 1600 branches
    with pytest.raises(compiler.CompileError, match="1600 branches"):
        compiler.plan(synthetic)


def test_sessions_are_reused_across_many_evaluations(engine_matcher):
    attributes = {"region": "141102", "sme": True, "small_micro": True}
    first = engine_matcher.met_ids(attributes, D(2022, 6, 1))
    evaluator = engine_matcher.evaluator()
    for _ in range(2000):  # same fact id every time: each cycle must have retracted it
        assert engine_matcher.met_ids(attributes, D(2022, 6, 1)) == first
    assert engine_matcher.evaluator() is evaluator and "lvliang-2022-1" in first


def test_an_evaluator_belongs_to_one_thread(engine_matcher):
    evaluator = engine_matcher.evaluator()
    fact = engine_matcher.facts.encode({"region": "141102", "sme": True}, D(2022, 6, 1))
    errors: list[BaseException] = []
    results: list[frozenset[str]] = []

    def other_thread():
        try:
            evaluator.fired(fact)
        except RuntimeError as exc:
            errors.append(exc)
        # The matcher itself gives each thread its own evaluator.
        results.append(engine_matcher.met_ids({"region": "141102", "sme": True}, D(2022, 6, 1)))

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "bound to the thread" in str(errors[0])
    assert results == [engine_matcher.met_ids({"region": "141102", "sme": True}, D(2022, 6, 1))]


def test_disagreement_is_reported_as_unknown(catalogue, caplog, monkeypatch):
    matcher = durable.DurableMatcher(catalogue)
    attributes = {"region": "141102", "sme": True, "small_micro": True}
    honest = {d.clause_id: d for d in matcher.evaluate(attributes, D(2022, 6, 1))}
    assert honest["lvliang-2022-1"].status == MET
    monkeypatch.setattr(durable.Evaluator, "fired", lambda self, fact: {"lvliang-2022-10"})
    with caplog.at_level(logging.ERROR, logger=durable.log.name):
        lying = {d.clause_id: d for d in matcher.evaluate(attributes, D(2022, 6, 1))}
    assert lying["lvliang-2022-1"].status == UNKNOWN  # reference met, engine not
    assert lying["lvliang-2022-10"].status == UNKNOWN  # engine met, reference not
    assert lying["lvliang-2022-1"].explanation["engine"] == {"durable_met": False, "reference": "met", "agrees": False}
    assert "disagree on lvliang-2022-1" in caplog.text


def test_falls_back_to_the_reference_without_the_extension(catalogue, caplog, monkeypatch):
    assert isinstance(durable.create_matcher(catalogue), durable.DurableMatcher)
    monkeypatch.setattr(durable, "engine", None)
    with caplog.at_level(logging.WARNING, logger=durable.log.name):
        matcher = durable.create_matcher(catalogue)
    assert isinstance(matcher, reference.ReferenceMatcher)
    assert "durable_rules_engine cannot be imported" in caplog.text


def test_default_matcher_uses_the_environment(monkeypatch, tmp_path, caplog):
    from engine.judging import catalogue as package
    from engine.judging.catalogue import loader

    assert isinstance(package.default_matcher(), durable.DurableMatcher)
    # An override folder of texts replaces every document's source.txt: one without them fails.
    monkeypatch.setenv(loader.MEASURES_DIR_VAR, str(tmp_path / "absent"))
    with pytest.raises(loader.CatalogueError, match="no source text"):
        package.default_matcher()
    monkeypatch.delenv(loader.MEASURES_DIR_VAR)
    monkeypatch.setenv(loader.RULES_DIR_VAR, str(tmp_path))
    with pytest.raises(loader.CatalogueError, match="no document folders"):
        package.default_matcher()


def test_match_gives_identical_decisions(ref, engine_matcher):
    profile = {"region": "141102", "industry": "C3311", "legal_form": "enterprise", "registered_on": "2020-01-01",
               "tax": {"taxpayer_type": "small_scale", "cit": {"2021": {"taxable_income": 100000.0, "revenue": 900000.0,
                                                                         "assets": 500000.0, "employees": 8}}},
               "certifications": {"specialized_sme": {"level": "province", "granted_on": "2021-03-01"}},
               "ip_transactions": {"IP-1": {"role": "buyer", "amount": 300000.0, "date": "2022-02-01"}}}
    context = matching.MatchContext(designations=matching.designations(epidemic_risk=[2022]))
    for as_of in (D(2022, 3, 1), D(2022, 8, 1), D(2023, 3, 1)):
        assert engine_matcher.match(profile, as_of, context) == ref.match(profile, as_of, context)
