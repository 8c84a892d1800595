"""What a long-running process does with Python's cyclic garbage collector once it has started.

A full collection walks every object the process holds. After start-up most of those are there for
good (modules, the catalogue and its compiled rules, templates, the database metadata), and a
collection among them finds nothing: in the service under a steady 1,000 events/s each one stopped
the event loop for 100–130 ms, which is what a sender saw as its request's latency (and, with 200
deliveries in hand, as refusals); a fold worker spent 100 ms in one every 0.6 s. Frozen out of the
collector's reach (:func:`gc.freeze`), they are no longer walked; what the work allocates afterwards
is collected as before, reference counting freeing nearly all of it.
"""

from __future__ import annotations

import gc


def freeze_start_up(thresholds: tuple[int, int, int] | None = None) -> None:
    """Take everything alive now out of the collector's reach, and with ``thresholds`` set how often it
    runs (:func:`gc.set_threshold`). Call once the process is ready to work, in its entry point only: a
    frozen object is never collected, so a process that keeps building and dropping start-ups (a test
    run) must not call it."""
    gc.collect()  # start-up's own garbage goes now rather than frozen for good
    gc.freeze()
    if thresholds is not None:
        gc.set_threshold(*thresholds)
