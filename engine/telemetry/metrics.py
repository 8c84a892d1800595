"""Prometheus metrics: what the service counts, and `GET /metrics` to read it.

Two kinds of figure, kept in two places:
- Counters and the send-latency histogram live on the module-level `REGISTRY`, because they are
  bumped from deep inside the webhook, the pipeline and the delivery worker, which have no app at
  hand. They count for the whole process, from its start (as Prometheus expects of counters);
  tests read their deltas.
- Queue depths (notices by status, events waiting to be folded) are read from storage at scrape
  time. That read is async, and prometheus-client's collectors are not, so each app gets its own
  `CollectorRegistry` (under `REGISTRY_KEY`) holding a `QueueCollector` that the handler refreshes
  before rendering, plus a pass-through to the process-wide counters. Apps built by tests never
  share gauges, and the default global registry is never touched.

Labels are small closed sets (event types, results, statuses, channels, error codes): no firm,
event or notice id ever becomes a label, so /metrics exposes no personal data and its size does
not grow with traffic. That is why it is public, like /healthz.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import prometheus_client
from aiohttp import web
from prometheus_client import metrics_core, registry

from engine.core import notice_status
from engine.telemetry import summary

log = logging.getLogger(__name__)

#: Send latency buckets (seconds): an SMTP hand-off or an SMS API call, fast local to slow provider.
SEND_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: The `type` label for an event whose type is missing or not one we know (keeps the label set closed).
UNKNOWN_TYPE = "unknown"

# No `*_created` series beside each counter: they double the page and no dashboard here uses them.
prometheus_client.disable_created_metrics()

#: Process-wide counters (see the module docstring for why these are module-level).
REGISTRY = registry.CollectorRegistry(auto_describe=True)

EVENTS_RECEIVED = prometheus_client.Counter(
    "policy_push_events_received",
    "Events that reached validation at the webhook, by type and result (accepted, duplicate, conflict, rejected).",
    ("type", "result"),
    registry=REGISTRY,
)
WEBHOOK_REFUSED = prometheus_client.Counter(
    "policy_push_webhook_refused",
    "Webhook deliveries answered with an error as a whole, by error code (invalid_signature, invalid_event, ...).",
    ("reason",),
    registry=REGISTRY,
)
EVENTS_PROCESSED = prometheus_client.Counter(
    "policy_push_events_processed",
    "Events the pipeline handled, by result (processed, failed).",
    ("result",),
    registry=REGISTRY,
)
DECISIONS = prometheus_client.Counter(
    "policy_push_decisions",
    "Changed decisions stored by the pipeline, by status (met, not_met, unknown).",
    ("status",),
    registry=REGISTRY,
)
NOTICE_TRANSITIONS = prometheus_client.Counter(
    "policy_push_notices_transitions",
    "Notice state changes made by the delivery worker (and operator requeues), by channel and new status.",
    ("channel", "status"),
    registry=REGISTRY,
)
NOTICE_SEND_SECONDS = prometheus_client.Histogram(
    "policy_push_notice_send_seconds",
    "Time to hand one notice to its channel (SMTP server, SMS provider), by channel and outcome.",
    ("channel", "outcome"),
    buckets=SEND_SECONDS_BUCKETS,
    registry=REGISTRY,
)
# CPU, memory and open files of this process: the figures a backfill's budget is judged by.
prometheus_client.ProcessCollector(registry=REGISTRY)
# Whether start-up was frozen out of the collector (engine.telemetry.collector): without it every full
# collection walks the catalogue and stops the event loop for ~100 ms.
prometheus_client.Gauge(
    "policy_push_gc_frozen_objects",
    "Objects left alive by start-up and frozen out of the garbage collector's reach (0 until the process has started).",
    registry=REGISTRY,
).set_function(gc.get_freeze_count)

# Series of closed label sets start at zero, so a rate() works from the first scrape.
for _result in ("processed", "failed"):
    EVENTS_PROCESSED.labels(_result)
for _status in ("met", "not_met", "unknown"):
    DECISIONS.labels(_status)


def event_type(item: Any, known: Iterable[str]) -> str:
    """The `type` label for a received item: its type if it is one of `known`, else "unknown"."""
    kind = item.get("type") if isinstance(item, dict) else None
    return kind if isinstance(kind, str) and kind in known else UNKNOWN_TYPE


def event_received(kind: str, result: str) -> None:
    """Count one event item answered with `result` at the webhook."""
    EVENTS_RECEIVED.labels(kind, result).inc()


def webhook_refused(reason: str) -> None:
    """Count one delivery refused as a whole with error code `reason`."""
    WEBHOOK_REFUSED.labels(reason).inc()


def event_processed(decision_statuses: Iterable[str]) -> None:
    """Count one folded event and the statuses of the decisions it stored."""
    EVENTS_PROCESSED.labels("processed").inc()
    statuses = list(decision_statuses)
    for value in statuses:
        DECISIONS.labels(value).inc()
    summary.TALLY.event(statuses)


def event_failed() -> None:
    """Count one event the pipeline parked as failed."""
    EVENTS_PROCESSED.labels("failed").inc()
    summary.TALLY.event_failed()


def notice_transition(channel: str, new_status: str, count: int = 1) -> None:
    """Count notice state changes (`count` notices, e.g. a digest's, moved together)."""
    NOTICE_TRANSITIONS.labels(channel, new_status).inc(count)
    summary.TALLY.notice(channel, new_status, count)


def observe_send(channel: str, outcome: str, seconds: float) -> None:
    """Record how long one send took."""
    NOTICE_SEND_SECONDS.labels(channel, outcome).observe(seconds)


class SendTimer:
    """Measures one send: `started = SendTimer()`, then `started.done(channel, outcome)`."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def done(self, channel: str, outcome: str) -> None:
        observe_send(channel, outcome, time.perf_counter() - self.started)


class _Forward:
    """Exposes another registry's metrics through this one (the process-wide counters per app)."""

    def __init__(self, source: registry.CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[metrics_core.Metric]:
        return self.source.collect()


class QueueCollector:
    """Queue depths read from storage: refreshed by the /metrics handler, rendered by the registry.

    When storage cannot be read the gauges are left out of that scrape (absent, not stale), and
    the failure is counted in `policy_push_metrics_storage_errors_total`.
    """

    def __init__(self) -> None:
        self.notices: Mapping[str, int] | None = None
        self.pending: int | None = None
        self.errors = 0

    async def refresh(self, store: Any) -> None:
        """Read the depths now from `store` (its count_notices and count_pending_events)."""
        try:
            counts = await store.count_notices()
            pending = await store.count_pending_events()
        except Exception:  # a scrape must still show the counters when the database is away
            log.warning("metrics: could not read queue depths from storage", exc_info=True)
            self.errors += 1
            self.notices = self.pending = None
            return
        # Every status is shown, zero included, so a queue that empties reads 0 rather than vanishing.
        self.notices = {s.value: int(counts.get(s.value, 0)) for s in notice_status.NoticeStatus}
        self.pending = pending

    def collect(self) -> Iterator[metrics_core.Metric]:
        errors = metrics_core.CounterMetricFamily(
            "policy_push_metrics_storage_errors", "Scrapes whose queue depths could not be read from storage."
        )
        errors.add_metric((), self.errors)
        yield errors
        if self.notices is not None:
            notices = metrics_core.GaugeMetricFamily(
                "policy_push_notices", "Notices in storage by status, read at scrape time.", labels=("status",)
            )
            for value, count in self.notices.items():
                notices.add_metric((value,), count)
            yield notices
        if self.pending is not None:
            yield metrics_core.GaugeMetricFamily(
                "policy_push_events_pending",
                "Events received but not yet folded, counted at scrape time.",
                value=self.pending,
            )


#: The app's own registry: the process-wide counters plus this app's queue gauges.
REGISTRY_KEY = web.AppKey("metrics_registry", registry.CollectorRegistry)
#: The app's queue-depth collector (refreshed on each scrape).
QUEUE_KEY = web.AppKey("metrics_queue", QueueCollector)
#: The store whose queues the collector reads (count_notices, count_pending_events).
SOURCE_KEY = web.AppKey("metrics_source", object)


def setup(app: web.Application, store: Any) -> None:
    """Give `app` its metrics registry and the public `GET /metrics` route over `store`'s queues."""
    app[SOURCE_KEY] = store
    per_app = registry.CollectorRegistry()
    per_app.register(_Forward(REGISTRY))
    queue = QueueCollector()
    per_app.register(queue)
    app[REGISTRY_KEY] = per_app
    app[QUEUE_KEY] = queue
    app.router.add_get("/metrics", handle_metrics)


async def handle_metrics(request: web.Request) -> web.Response:
    """`GET /metrics`: the Prometheus text exposition format."""
    await request.app[QUEUE_KEY].refresh(request.app[SOURCE_KEY])
    body = prometheus_client.generate_latest(request.app[REGISTRY_KEY])
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


async def serve_alone(store: Any, host: str, port: int) -> web.AppRunner:
    """Serve `GET /metrics` over `store` on its own (a `policy-push worker` has no web app); cleanup() stops it."""
    app = web.Application()
    setup(app, store)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
