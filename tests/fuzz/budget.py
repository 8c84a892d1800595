"""How much the fuzzers try: bounded so the whole fuzz directory stays well under a minute on
the 2-core machine, and derandomized so a failure is reproduced by running the same test again.

For a deeper hunt, POLICY_PUSH_FUZZ_SCALE=N multiplies every example count, and
POLICY_PUSH_FUZZ_RANDOM=1 draws fresh inputs on each run instead of the fixed ones (a failure
then prints the seed to reproduce it with: pytest --hypothesis-seed=…).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("POLICY_PUSH_FUZZ_SCALE", "1")))
RANDOM = os.environ.get("POLICY_PUSH_FUZZ_RANDOM") == "1"

#: schemathesis examples per operation of the OpenAPI document (positive and negative modes).
API_EXAMPLES = 40 * SCALE
#: Generated bodies per event type posted, signed, to the webhook (one operation: × 13 types).
WEBHOOK_EXAMPLES = 30 * SCALE
#: Unsigned, wrongly signed or garbage deliveries.
GARBAGE_EXAMPLES = 60 * SCALE
#: Mutated events (single, and batches) in the no-partial-write properties.
MUTATION_EXAMPLES = 150 * SCALE
#: Longest wait for one call into the app's loop (a drain of the pipeline included).
CALL_TIMEOUT_SECONDS = 60
#: Per-request timeout of the HTTP client.
REQUEST_TIMEOUT_SECONDS = 30


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings shared by every fuzz test: fixed inputs, no deadline (the first request
    pays for warm-up), no example database (no files written), and the health checks that
    object to a server-backed test or to module-scoped fixtures relaxed on purpose."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        print_blob=RANDOM,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
