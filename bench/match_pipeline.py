"""The pipeline's per-event judging against raw durable-rules on the same facts (bench/match.py --pipeline).

Per event the pipeline calls ``recording.judge_firm`` with the firm's flat fields, the event's date,
its county's risk years and what is stored for the firm; the judge is ``judge.ChangesMatcher``
over the durable-rules matcher (engine/ingest/pipeline.py). The baseline is the raw compiled
rulesets driven directly (assert, drain, retract) on the fact JSON that same call builds, measured
in the same run on the same events. Three kinds of event:

* ``one day, steady``: every event dated 2022-07-15, the firm judged before on that day (what is
  stored is what its previous event recorded), so little changes: the common live case;
* ``varied dates, steady``: each event on its own date over 2022-2023 (a historical load);
* ``one day, first event``: nothing stored yet, so every clause that reaches the firm is explained.

Also the eager path (``changed_decisions(matcher.match(...))``: every firm-facing clause explained,
then filtered), a breakdown of the steady varied-date path into its stages, and with ``--profile``
a cProfile of that path.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import io
import pstats
import time
from collections.abc import Callable, Sequence
from typing import Any

from engine.core import matching, profile
from engine.judging import judge, recording
from engine.judging.catalogue import durable, inputs

ONE_DAY = dt.date(2022, 7, 15)

#: One event as judge_firm is called with it: uscc, flat fields, date, risk years, stored (date, decision)s.
Event = tuple[str, dict[str, Any], dt.date, frozenset[int], list[tuple[dt.date, matching.Decision]]]


def best(count: int, run: Callable[[], Any], rounds: int) -> float:
    """Best-of-``rounds`` seconds per item of ``run`` (which handles ``count`` items)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) / count


def events(matcher: durable.DurableMatcher, cases: Sequence[tuple], *, dated: bool, steady: bool) -> list[Event]:
    """The benchmark's firms as pipeline events: on their own dates or all on ONE_DAY; with what the
    firm's previous event stored on that date (steady) or with nothing stored."""
    out = []
    for nested, as_of, context in cases:
        day = as_of if dated else ONE_DAY
        uscc, flat = nested["uscc"], profile.flatten(nested)
        known: list[tuple[dt.date, matching.Decision]] = []
        if steady:
            first = recording.changed_decisions(matcher.match(nested, day, recording.context_of(context.designations, [])), {})
            known = [(day, decision) for decision in first]
        out.append((uscc, flat, day, context.designations, known))
    return out


def facts(matcher: durable.DurableMatcher, batch: Sequence[Event]) -> list[str]:
    """The fact JSON the pipeline's judge asserts for each event (the raw baseline's input)."""
    out = []
    for uscc, flat, day, risk, known in batch:
        context = recording.context_of(risk, known)
        attributes, overrides = inputs.prepare(matcher.catalogue, profile.nest(uscc, flat), day, context)
        out.append(matcher.facts.encode(attributes, day, overrides))
    return out


def _judging(batch: Sequence[Event], judge_: recording.Judge) -> Callable[[], None]:
    def run() -> None:
        for uscc, flat, day, risk, known in batch:
            recording.judge_firm(uscc, flat, day, risk, known, judge_)
    return run


def report(matcher: durable.DurableMatcher, cases: Sequence[tuple], rounds: int, *, eager: bool, profiled: bool) -> None:
    """Print, per kind of event: raw durable-rules (baseline), the pipeline's judging, their ratio."""
    evaluator = matcher.evaluator()
    kinds = {
        "one day, steady": events(matcher, cases, dated=False, steady=True),
        "varied dates, steady": events(matcher, cases, dated=True, steady=True),
        "one day, first event": events(matcher, cases, dated=False, steady=False),
    }
    print("the pipeline's per-event judging (recording.judge_firm with judge.ChangesMatcher) vs raw durable-rules"
          " on the same facts, µs per event:")
    print(f"  {'events':<24} {'raw (baseline)':>15} {'pipeline':>10} {'of raw':>8} {'changed/event':>14}"
          + (f" {'eager':>10} {'of raw':>8}" if eager else ""))
    for label, batch in kinds.items():
        fact_json = facts(matcher, batch)
        n = len(batch)
        changed = sum(len(recording.judge_firm(*event, judge.ChangesMatcher(matcher).match)) for event in batch) / n
        # A fresh judge per round: its compiled catalogue and scopes are built inside the timing, once.
        raw = best(n, lambda: [evaluator.fired(f) for f in fact_json], rounds)
        mine = best(n, lambda: _judging(batch, judge.ChangesMatcher(matcher).match)(), rounds)
        line = f"  {label:<24} {raw * 1e6:>15.1f} {mine * 1e6:>10.1f} {raw / mine:>8.1%} {changed:>14.1f}"
        if eager:
            full = best(n, _judging(batch, matcher.match), rounds)
            line += f" {full * 1e6:>10.1f} {raw / full:>8.1%}"
        print(line)
    stages(matcher, kinds["varied dates, steady"], rounds)
    if profiled:
        profile_of(matcher, kinds["varied dates, steady"])


def stages(matcher: durable.DurableMatcher, batch: Sequence[Event], rounds: int) -> None:
    """Where a steady event's time goes, stage by stage (each timed alone on the same events)."""
    n, changes = len(batch), judge.ChangesMatcher(matcher)
    nested = [profile.nest(uscc, flat) for uscc, flat, *_ in batch]
    contexts = [recording.context_of(risk, known) for *_, risk, known in batch]
    prepared = [inputs.prepare(matcher.catalogue, p, e[2], c) for p, e, c in zip(nested, batch, contexts, strict=True)]
    fact_json = [matcher.facts.encode(a, e[2], o) for (a, o), e in zip(prepared, batch, strict=True)]
    # The pipeline's judges: one per date, sharing the matcher's compiled catalogue and region scopes.
    by_day: dict[dt.date, judge.Judge] = {}
    judges = [by_day.get(e[2]) or by_day.setdefault(e[2], judge.Judge(matcher, e[2], compiled=changes.compiled))
              for e in batch]
    evaluator = matcher.evaluator()
    mets = [j._met(a, o) for j, (a, o) in zip(judges, prepared, strict=True)]
    outcomes = []
    for j, (a, o), c, met in zip(judges, prepared, contexts, mets, strict=True):
        outcomes.append([r.clause_id for r in j._outcomes(a, o, c.previous, met) if r.changed])
    timed = {
        "nest the flat fields (profile.nest)": lambda: [profile.nest(e[0], e[1]) for e in batch],
        "stored decisions -> context (context_of)": lambda: [recording.context_of(e[3], e[4]) for e in batch],
        "derive attributes + caps (inputs.prepare)": lambda: [
            inputs.prepare(matcher.catalogue, p, e[2], c) for p, e, c in zip(nested, batch, contexts, strict=True)],
        "fact JSON (FactEncoder.encode)": lambda: [
            matcher.facts.encode(a, e[2], o) for (a, o), e in zip(prepared, batch, strict=True)],
        "durable-rules: assert, drain, retract": lambda: [evaluator.fired(f) for f in fact_json],
        "verdicts + amounts + comparison (incl. engine)": lambda: [
            j._outcomes(a, o, c.previous, j._met(a, o)) for j, (a, o), c in zip(judges, prepared, contexts, strict=True)],
        "explain the changed clauses only": lambda: [
            j.explain(a, o, ids, met=met) for j, (a, o), ids, met in zip(judges, prepared, outcomes, mets, strict=True) if ids],
    }
    total = best(n, _judging(batch, changes.match), rounds)
    print("\nstages of one steady event with varied dates (each timed alone), µs per event:")
    spent = {label: best(n, run, rounds) for label, run in timed.items()}
    for label, seconds in spent.items():
        print(f"  {label:<50} {seconds * 1e6:>8.1f}")
    rest = spent["verdicts + amounts + comparison (incl. engine)"] - spent["durable-rules: assert, drain, retract"] \
        - spent["fact JSON (FactEncoder.encode)"]
    print(f"  {'  of which verdicts etc. without the engine':<50} {rest * 1e6:>8.1f}")
    print(f"  {'the whole judge_firm call':<50} {total * 1e6:>8.1f}")


def profile_of(matcher: durable.DurableMatcher, batch: Sequence[Event]) -> None:
    """cProfile of the steady varied-date path: the functions that take the time, by own time."""
    run = _judging(batch, judge.ChangesMatcher(matcher).match)
    run()
    profiler = cProfile.Profile()
    profiler.runcall(run)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    print("\ncProfile of the steady varied-date events (own time; the profiler inflates every call):")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])
