"""A long-running process freezes what its start-up left alive out of the garbage collector's reach
(engine.telemetry.collector): the catalogue is no longer walked by each full collection, start-up's own
garbage is freed rather than frozen, and what the work allocates afterwards is still collected.

Run in a fresh interpreter: a freeze is for the life of the process, and this one runs every test."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]

PROGRAM = textwrap.dedent(
    """
    import gc, json, weakref
    from engine.judging import catalogue
    from engine.telemetry import collector

    class Node:
        pass

    def cycle():
        first, second = Node(), Node()
        first.other, second.other = second, first
        return weakref.ref(first)

    matcher = catalogue.default_matcher()
    walked_before = any(thing is matcher for thing in gc.get_objects())
    start_up_garbage = cycle()
    collector.freeze_start_up((5_000, 10, 10))
    start_up_garbage_freed = start_up_garbage() is None
    walked_after = any(thing is matcher for thing in gc.get_objects())
    work_garbage = cycle()
    gc.collect()
    print(json.dumps({
        "walked_before": walked_before, "walked_after": walked_after, "frozen": gc.get_freeze_count(),
        "start_up_garbage_freed": start_up_garbage_freed, "work_garbage_freed": work_garbage() is None,
        "thresholds": gc.get_threshold(),
    }))
    """
)


def test_start_up_is_frozen_its_garbage_freed_and_later_garbage_still_collected():
    run = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(run.stdout)
    assert seen["walked_before"] and not seen["walked_after"]  # the matcher is out of the collector's reach
    assert seen["frozen"] > 10_000  # the catalogue with its compiled rules, not a handful of objects
    assert seen["start_up_garbage_freed"]  # collected before the freeze, not kept for good
    assert seen["work_garbage_freed"]
    assert seen["thresholds"] == [5_000, 10, 10]
