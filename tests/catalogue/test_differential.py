"""Differential, property-based: durable-rules and the reference agree on every clause's met set.

Attributes are drawn for every name in ATTRIBUTE_TYPES (some absent), with numbers clustered
around the thresholds the catalogue actually uses, strings from the values it compares with,
and regions inside and outside every jurisdiction.
"""

from __future__ import annotations

import datetime as dt
import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import matching
from engine.judging import derive
from engine.judging.catalogue import compiler, inputs, loader, model

_CATALOGUE = loader.load()
REGIONS = ["140202", "140212", "140302", "140303", "141102", "141181", "630102", "630202", "530102",
           "530302", "110101", "620102", "530102\n", "５３０１０２", "abc", ""]


def _catalogue_values() -> dict[str, set]:
    values: dict[str, set] = {}
    for clause in _CATALOGUE.clauses:
        for leaf in clause.leaves():
            found = values.setdefault(leaf.attr, set())
            found.update(leaf.value if isinstance(leaf.value, tuple) else [leaf.value])
    return values


def _numbers(kind: type, near: set) -> st.SearchStrategy:
    close = sorted({v + d for v in near for d in (-1, -0.5, -0.01, 0, 0.01, 0.5, 1)})
    if kind is int:
        return st.one_of(st.integers(-5, 5_000_000), st.sampled_from([int(v) for v in close] or [0]))
    edges = [0.0, -0.0, 1e-9, 1e20, -1e20, 2.5e15]
    return st.one_of(
        st.floats(-1e9, 1e13, allow_nan=False, allow_infinity=False),
        st.sampled_from([float(v) for v in close] + edges),
    )


def _strategy(name: str, kind: type, near: set) -> st.SearchStrategy:
    if kind is bool:
        return st.booleans()
    if kind in (int, float):
        return _numbers(kind, near)
    if name == "region":
        return st.sampled_from(REGIONS)
    pool = sorted(near) + ["x", "小型", "C3311", "F5211"]
    return st.one_of(st.sampled_from(pool), st.text(max_size=6))


_VALUES = _catalogue_values()
_STRATEGIES = {name: _strategy(name, kind, _VALUES.get(name, set())) for name, kind in derive.ATTRIBUTE_TYPES.items()}


@st.composite
def attribute_sets(draw) -> dict:
    out = {}
    for name, strategy in _STRATEGIES.items():
        if draw(st.integers(0, 4)):  # present four times in five
            out[name] = draw(strategy)
    return out


_GRANTS = st.sampled_from([0.0, 100000.0, 1999999.99, 2000000.0, 2500000.0])
#: Clauses declaring a cumulative cap: each sees its own grant total as an override.
_CAPPED = [c for c in _CATALOGUE.executable() if c.cap is not None]


def _granted(value: float | None) -> dict | None:
    return None if value is None else {c.id: {model.GRANTED: value} for c in _CAPPED}


def _random_granted(rng: random.Random) -> dict:
    """Per capped clause: nothing granted yet, some, just under the cap, the cap (or unknown)."""
    return {c.id: {model.GRANTED: rng.choice((0.0, 10_000.0, c.cap.amount - 1, float(c.cap.amount)))}
            for c in _CAPPED if rng.random() < 0.85}
_DATES = st.dates(dt.date(2021, 1, 1), dt.date(2026, 12, 31))


@settings(max_examples=300, deadline=None)
@given(attributes=attribute_sets(), as_of=_DATES, grants=st.one_of(st.none(), _GRANTS))
def test_durable_and_reference_agree(ref, engine_matcher, attributes, as_of, grants):
    overrides = _granted(grants)
    expected = ref.met_ids(attributes, as_of, overrides=overrides)
    assert engine_matcher.met_ids(attributes, as_of, overrides=overrides) == expected
    decisions = engine_matcher.evaluate(attributes, as_of, overrides=overrides)
    assert {d.clause_id for d in decisions if d.status == matching.Verdict.MET} == expected
    assert all("engine" not in d.explanation for d in decisions)


@settings(max_examples=100, deadline=None)
@given(as_of=_DATES, region=st.sampled_from(REGIONS))
def test_every_executable_clause_can_be_reached(ref, engine_matcher, as_of, region):
    # A firm with every boolean true agrees too (many clauses met at once: the packing at work).
    attributes = {name: True for name, kind in derive.ATTRIBUTE_TYPES.items() if kind is bool}
    attributes.update(region=region, legal_form="enterprise", industry_section="C", industry_division="52",
                      taxpayer_type="small_scale", vat_monthly_sales=1.0, ip_buy_amount_year=1.0,
                      agri_loan_new_year=1.0, guarantee_loan_new_year=1.0,
                      hires_college_graduates=1, hires_hard_to_employ=1, hires_veterans=1,
                      hires_poverty_alleviated=1, cert_specialized_sme_level="province",
                      **{f"cert_{k}_year": as_of.year for k in ("innovative_sme", "specialized_sme",
                                                                "little_giant", "single_champion")})
    overrides = _granted(0.0)
    assert engine_matcher.met_ids(attributes, as_of, overrides=overrides) == ref.met_ids(attributes, as_of, overrides=overrides)


def _random_attributes(rng: random.Random) -> dict:
    out = {}
    for name, kind in derive.ATTRIBUTE_TYPES.items():
        if rng.random() < 0.15:
            continue
        near = sorted(_VALUES.get(name, set()), key=repr)
        if kind is bool:
            out[name] = rng.random() < 0.7
        elif kind in (int, float):
            value = rng.choice(near) + rng.choice((-1, 0, 0, 1)) if near and rng.random() < 0.7 \
                else rng.uniform(0, 5_000_000)
            out[name] = kind(value)
        elif name == "region":
            out[name] = rng.choice(REGIONS)
        else:
            out[name] = rng.choice(near or ["x"])
    return out


#: Executable clauses whose window closes: the sweep draws half its dates inside one of them.
_WINDOWED = [c for c in _CATALOGUE.executable() if c.valid_to is not None]


def _random_as_of(rng: random.Random) -> dt.date:
    """A day in the six years the measures span, or (half the time) inside a closing clause's window.

    Six years alone would meet yunnan-2022#二(二) (one month, 2022-05-31 to 06-30, and a VAT credit
    balance) about once in ten thousand draws.
    """
    if rng.random() < 0.5:
        clause = rng.choice(_WINDOWED)
        return clause.valid_from + dt.timedelta(days=rng.randrange((clause.valid_to - clause.valid_from).days + 1))
    return dt.date(2021, 1, 1) + dt.timedelta(days=rng.randrange(6 * 365))


def test_seeded_sweep_meets_every_clause_and_agrees(ref, engine_matcher):
    """Guards the property test's power: the space it draws from meets every executable clause."""
    rng = random.Random(20220531)
    reached: set[str] = set()
    # 3000 draws: the last clause met, yunnan-2022-2-1 (six conditions, a seven-month window), is met at the 1482nd.
    for _ in range(3000):
        attributes = _random_attributes(rng)
        as_of = _random_as_of(rng)
        overrides = _random_granted(rng)
        met = ref.met_ids(attributes, as_of, overrides=overrides)
        assert engine_matcher.met_ids(attributes, as_of, overrides=overrides) == met
        reached |= met
    executable = {c.id for c in _CATALOGUE.executable()}
    assert reached == executable, sorted(executable - reached)


def test_lean_facts_fire_exactly_what_full_facts_fire(engine_matcher):
    """The encoder leaves out properties no rule tests; the engine must not notice."""
    rng = random.Random(4754)
    evaluator = engine_matcher.evaluator()
    for _ in range(500):
        attributes = inputs.normalise(_random_attributes(rng))
        as_of = dt.date(2021, 1, 1) + dt.timedelta(days=rng.randrange(6 * 365))
        overrides = _random_granted(rng)
        full = compiler.fact(attributes, as_of, engine_matcher.reads, overrides)
        lean = engine_matcher.facts.encode(attributes, as_of, overrides)
        assert json.loads(lean) == {k: v for k, v in full.items() if k in engine_matcher.facts.names
                                    or "@" in k or k in ("kind", "as_of")}
        assert evaluator.fired(lean) == evaluator.fired(compiler.dumps(full))
