"""Matching throughput over the full catalogue: durable-rules matcher, raw engine, reference.

Builds N random but realistic firm profiles (docs/profile.md shape, firms in and around the five
jurisdictions) and reports, on one core:

* the durable-rules Matcher's ``match()``: derive attributes, decide ``met`` in durable-rules,
  explain every firm-facing clause with the reference (what the pipeline calls per event);
* the raw rate of the same compiled rulesets driven directly: assert, drain, retract only, on
  pre-built fact JSON (the engine's ceiling in this design);
* the reference evaluator's ``match()``; plus a per-stage breakdown and the ratios;
* the pipeline's per-event judging (``recording.judge_firm`` with ``judge.ChangesMatcher``) against
  raw durable-rules on the same facts, with its stages (bench/match_pipeline.py).

Usage: ``.venv/bin/python bench/match.py [--firms 2000] [--seed 1] [--rounds 3] [--pipeline] [--profile]``
(``--pipeline``: only the pipeline's figures; ``--profile``: add a cProfile of its steady path)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

# Measure the tree this script is in, not whichever checkout the interpreter has installed.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import match_pipeline  # noqa: E402
from engine.core import matching  # noqa: E402
from engine.judging.catalogue import compiler, durable, inputs, loader, reference  # noqa: E402

# Regions inside the five measures' jurisdictions (weighted) and a few outside all of them.
REGIONS = ["140202", "140212", "140213", "140302", "140302", "141102", "141181", "630102", "630202",
           "530102", "530302", "530111", "140303", "110101", "620102"]
INDUSTRIES = ["F5211", "F5121", "H6210", "H6110", "C3311", "C1320", "C3911", "I6510", "M7520", "A0111",
              "E4710", "G5430", "B0610", "D4411", "K7010", "O8010"]
CERTS = ["specialized_sme", "little_giant", "innovative_sme", "high_tech", "tech_sme", "single_champion",
         "agri_leading", "gazelle"]


def _day(rng: random.Random, start: dt.date, days: int) -> str:
    return (start + dt.timedelta(days=rng.randrange(days))).isoformat()


def profile(rng: random.Random, as_of: dt.date) -> dict[str, Any]:
    """One firm: a few years of tax filings, recent social insurance, sometimes leases, loans, IP."""
    year = as_of.year
    employees = rng.choice([3, 8, 20, 45, 90, 180, 350, 900])
    revenue = employees * rng.uniform(50_000, 600_000)
    firm: dict[str, Any] = {
        "uscc": f"9114{rng.randrange(10**13):013d}X", "name": "示例企业",
        "region": rng.choice(REGIONS), "industry": rng.choice(INDUSTRIES),
        "legal_form": "individual_business" if rng.random() < 0.15 else "enterprise",
        "registered_on": _day(rng, dt.date(2005, 1, 1), 6000),
        "tax": {
            "taxpayer_type": rng.choice(["small_scale", "general"]),
            "vat": {f"{year}-{m:02d}": {"sales": rng.choice([90_000.0, 150_000.0, 150_001.0, rng.uniform(1e4, 2e6)]),
                                        "months": 1} for m in range(1, as_of.month + 1)},
            "cit": {str(y): {"taxable_income": rng.uniform(-2e5, 5e6), "revenue": revenue,
                             "assets": revenue * rng.uniform(0.3, 2.0), "employees": employees}
                    for y in (year - 2, year - 1)},
            "credit_rating": {str(year - 1): rng.choice("AABMC")},
        },
        "social_insurance": {
            f"{year}-{m:02d}": {"insured": employees, "unemployment_insurance_paid": rng.random() < 0.85,
                                "layoffs": rng.choice([0, 0, 0, 1, 5]),
                                "hires": {"college_graduates": rng.choice([0, 0, 1, 3]), "hard_to_employ": rng.choice([0, 1]),
                                          "veterans": rng.choice([0, 1]), "poverty_alleviated": rng.choice([0, 1])}}
            for m in range(max(1, as_of.month - 2), as_of.month + 1)
        },
        "certifications": {
            kind: {"level": rng.choice(["national", "province", "city"]),
                   "granted_on": _day(rng, dt.date(2019, 1, 1), 1400), "revoked_on": None}
            for kind in CERTS if rng.random() < 0.12
        },
    }
    if rng.random() < 0.5:
        firm["leases"] = {"L1": {"landlord_type": rng.choice(["state_owned_enterprise", "government_agency", "private"]),
                                 "monthly_rent": rng.choice([3000.0, 8000.0, 25000.0]),
                                 "start": f"{year - 1}-07-01", "end": f"{year + 2}-06-30"}}
    if rng.random() < 0.4:
        firm["loans"] = {"LN1": {"kind": rng.choice(["business_guarantee", "agricultural", "inclusive_small_micro", "other"]),
                                 "principal": rng.choice([300_000.0, 2_000_000.0]), "annual_rate": rng.choice([3.65, 4.35, 6.0]),
                                 "issued_on": _day(rng, dt.date(year, 1, 1), max(1, (as_of - dt.date(year, 1, 1)).days)),
                                 "guarantor": "担保公司"}}
    if rng.random() < 0.3:
        firm["ip_transactions"] = {"IP1": {"role": rng.choice(["buyer", "seller"]), "amount": rng.choice([5e5, 1.2e7]),
                                           "date": _day(rng, dt.date(year, 1, 1), max(1, (as_of - dt.date(year, 1, 1)).days))}}
    return firm


def each(function: Callable[..., Any], items: Sequence[tuple]) -> Callable[[], None]:
    """Call ``function(*item)`` for every item, keeping no result (as the pipeline does per event:
    holding 200k decisions would make the benchmark measure the garbage collector)."""
    def run() -> None:
        for item in items:
            function(*item)
    return run


def rate(label: str, count: int, run: Callable[[], Any], rounds: int) -> float:
    """Best-of-``rounds`` evaluations per second of ``run`` (which does ``count`` evaluations)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    best = count / min(times)
    print(f"  {label:<58} {best:>10,.0f} /s   (median {count / statistics.median(times):,.0f} /s)")
    return best


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pipeline", action="store_true", help="only the pipeline's per-event judging figures")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of the pipeline's steady path")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    catalogue = loader.load()
    engine_matcher = durable.DurableMatcher(catalogue)
    ref = reference.ReferenceMatcher(catalogue)
    rng = random.Random(args.seed)
    cases = []
    for _ in range(args.firms):
        as_of = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(730))
        context = matching.MatchContext(designations=matching.designations(epidemic_risk=[2022] if rng.random() < 0.3 else []))
        cases.append((profile(rng, as_of), as_of, context))
    prepared = [inputs.prepare(catalogue, p, d, c) + (d,) for p, d, c in cases]
    facts = [engine_matcher.facts.encode(a, d, o) for a, o, d in prepared]
    evaluator = durable.Evaluator(engine_matcher.rulesets)

    # Sanity first: both matchers agree on every firm, and the firms are not trivial.
    met_counts, unknown_counts = [], []
    for p, d, c in cases:
        mine, theirs = engine_matcher.match(p, d, c), ref.match(p, d, c)
        assert mine == theirs, "durable-rules and the reference disagree"
        met_counts.append(sum(x.status == matching.Verdict.MET for x in mine))
        unknown_counts.append(sum(x.status == matching.Verdict.UNKNOWN for x in mine))
    n = len(cases)
    branches = [sum(compiler.branches(catalogue.by_id[c].conditions) for c in r) for r in engine_matcher.rulesets]
    print(f"catalogue: {len(catalogue.clauses)} clauses, {len(ref.clauses)} firm-facing judged, "
          f"{len(catalogue.executable())} compiled into {len(branches)} rulesets (branches {branches})")
    print(f"firms: {n}, as-of dates 2022-2023; per firm: {statistics.mean(met_counts):.1f} met, "
          f"{statistics.mean(unknown_counts):.1f} unknown of {len(ref.clauses)}; both matchers agree on all")
    print(f"python {platform.python_version()} on {platform.machine()}, one core, best of {args.rounds} rounds; "
          f"load average before: {os.getloadavg()[0]:.2f}\n")
    if args.pipeline:
        match_pipeline.report(engine_matcher, cases, args.rounds, eager=True, profiled=args.profile)
        print(f"\nwall time {time.perf_counter() - started:.1f} s")
        return

    print("end to end (profile -> decisions with explanations):")
    full = rate("durable-rules Matcher.match()", n, each(engine_matcher.match, cases), args.rounds)
    slow = rate("reference Matcher.match()", n, each(ref.match, cases), args.rounds)
    print("engine only:")
    raw = rate("raw rulesets: assert, drain, retract (pre-built fact JSON)", n,
               each(evaluator.fired, [(f,) for f in facts]), args.rounds)
    print("stages:")
    rate("derive.attributes + grants (inputs.prepare)", n,
         each(lambda p, d, c: inputs.prepare(catalogue, p, d, c), cases), args.rounds)
    rate("durable met set from attributes (fact JSON + engine)", n,
         each(lambda a, o, d: engine_matcher.met_ids(a, d, overrides=o), prepared), args.rounds)
    rate("reference verdicts + explanations from attributes", n,
         each(lambda a, o, d: ref.evaluate(a, d, overrides=o), prepared), args.rounds)
    print("ratios:")
    print(f"  durable Matcher / reference Matcher   {full / slow:6.2f}x")
    print(f"  raw engine / durable Matcher          {raw / full:6.1f}x")
    print(f"  raw engine / reference Matcher        {raw / slow:6.1f}x\n")
    match_pipeline.report(engine_matcher, cases, args.rounds, eager=True, profiled=args.profile)
    print(f"\nwall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
