"""The aiohttp application factory; the service and the tests build the app the same way."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import standardwebhooks
from aiohttp import web

from connectors import sql_accounts, sql_console, sql_storage
from engine import console, constants, settings, storage
from engine.backfill import opening
from engine.console import keys as console_keys
from engine.console import sessions as console_sessions
from engine.core import matching
from engine.firm_page import web as firm_page_web
from engine.http import auth, bodies, responses
from engine.ingest import intake, pipeline, webhooks
from engine.judging.catalogue import durable, reference
from engine.notices import compose, worker
from engine.notices import web as notices_web
from engine.telemetry import metrics, summary
from engine.web import api, health, keys, senders

log = logging.getLogger(__name__)

#: How `policy-push serve` runs the app (keyword arguments of web.run_app and web.AppRunner): the
#: keep-alive timer closes a connection that has not delivered a request's headers in time
#: (engine.http.bodies times bodies); a handler runs to its end when its client goes away (an event
#: being stored is stored), as aiohttp's default is, stated here because its test server differs.
SERVER_OPTIONS = {"keepalive_timeout": constants.HEADER_READ_TIMEOUT_SECONDS, "handler_cancellation": False}


def create_app(
    config: settings.Settings,
    *,
    store: storage.Storage | None = None,
    matcher: matching.Matcher | None = None,
    run_pipeline: bool = True,
    delivery: worker.DeliveryWorker | None = None,
    windows: opening.WindowWatcher | None = None,
) -> web.Application:
    """Build the web app. `store` defaults to SqlStorage on `config.database_url`; the pipeline
    worker runs inside the app unless `run_pipeline` is False (tests that drive it by hand, and
    `serve --no-folding`), and so do `delivery` (the notice worker) and `windows` (the window job) when given."""
    if store is None:
        store = sql_storage.SqlStorage.configured(config)
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[
            responses.json_errors_middleware(),
            auth.bearer_middleware(prefix="/api", public={"/api/openapi.json"}),
            health.refuse_writes_when_damaged,
            bodies.body_middleware(config.max_body_bytes),
        ],
    )
    app[health.HEALTH] = health.Health()
    app[keys.SETTINGS] = config
    app[keys.STORAGE] = store
    if isinstance(store, sql_storage.SqlStorage):  # the console is SQL-only
        app[console.READ_MODEL] = sql_console.SqlConsoleReadModel(store)
        app[console.ACCOUNTS] = sql_accounts.SqlAccounts(store)
    app[keys.MATCHER] = matcher or matching.NullMatcher()
    # Each feature reads the same store through the narrow interface it declares.
    app[auth.TOKENS] = store
    app[webhooks.EVENTS] = store
    app[notices_web.NOTICES] = store
    app[notices_web.CONFIG] = config.notices
    app[webhooks.PIPELINE] = pipeline.Pipeline(store, app[keys.MATCHER])
    app[webhooks.VERIFIERS] = tuple(standardwebhooks.Webhook(secret) for secret in config.webhook_secrets)
    app[webhooks.LIMITS] = (config.max_body_bytes, config.max_batch_items)
    app[webhooks.INTAKE] = intake.Intake(constants.INTAKE_MAX_IN_FLIGHT, constants.INTAKE_DEADLINE_SECONDS)
    # The console reads the same store through its own interface (engine.console.keys).
    app[console_keys.STORAGE] = store
    app[console_keys.MATCHER] = app[keys.MATCHER]
    app[firm_page_web.STORE] = store
    app[firm_page_web.MATCHER] = app[keys.MATCHER]
    app[console_sessions.COOKIE_SECURE] = config.cookie_secure
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(health.integrity_ctx)
    if run_pipeline:
        app.cleanup_ctx.append(_pipeline_ctx)
    if delivery is not None:
        app[worker.DELIVERY] = delivery
        app[webhooks.PIPELINE].on_decisions.append(delivery.wake)
        app.cleanup_ctx.append(_delivery_ctx)
    if windows is not None:
        app[opening.WATCHER] = windows
        if delivery is not None:
            windows.on_notices.append(delivery.wake)
        app.cleanup_ctx.append(_windows_ctx)
    app.router.add_post("/webhooks/events", webhooks.receive_events)
    app.router.add_routes(api.routes)
    app.router.add_routes(notices_web.routes)
    app.router.add_routes(firm_page_web.routes)
    metrics.setup(app, store)
    console.setup(app)
    # After the console's own (fuller) headers, so these only fill in what a response lacks.
    app.on_response_prepare.append(responses.add_baseline_headers)
    return app


def create_service(
    config: settings.Settings, matcher: matching.Matcher, *, deliver: bool = True, fold: bool = True
) -> web.Application:
    """The app `policy-push serve` runs: SQL storage, the pipeline (unless `fold` is False, when separate
    `policy-push worker --fold` processes fold), the notice delivery worker (unless `deliver` is False,
    when separate `policy-push worker` processes send), and the window job (firms judged under each
    clause window as it opens) when the matcher judges a catalogue."""

    store = sql_storage.SqlStorage.configured(config)
    delivery = None
    if deliver:
        composer = compose.Composer(matcher.catalogue, config.notices)
        delivery = worker.DeliveryWorker(
            store, composer, senders.build_channels(config.notices), auto_grants=compose.auto_grant_clauses(matcher.catalogue)
        )
    windows = None
    if isinstance(matcher, durable.DurableMatcher | reference.ReferenceMatcher):
        windows = opening.WindowWatcher(store, matcher)
    app = create_app(config, store=store, matcher=matcher, run_pipeline=fold, delivery=delivery, windows=windows)
    app.cleanup_ctx.append(_summary_ctx)
    return app


async def _summary_ctx(app: web.Application) -> AsyncIterator[None]:
    async with summary.periodic():
        yield


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[keys.STORAGE].open()
    yield
    await app[keys.STORAGE].close()


async def _delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[worker.DELIVERY].run_forever(), name="delivery")
    yield
    await app[worker.DELIVERY].stop(task, timeout=constants.SHUTDOWN_GRACE_SECONDS)


async def _pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[webhooks.PIPELINE].run_forever(), name="pipeline")
    yield
    await app[webhooks.PIPELINE].stop(task, timeout=constants.SHUTDOWN_GRACE_SECONDS)


async def _windows_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[opening.WATCHER].run_forever(), name="windows")
    yield
    await app[opening.WATCHER].stop(task, timeout=constants.SHUTDOWN_GRACE_SECONDS)
