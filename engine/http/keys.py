"""Typed application keys: every resource the web app shares, in one place."""

from __future__ import annotations

import standardwebhooks
from aiohttp import web

from engine.core import matching
from engine.ingest import pipeline
from engine import settings, storage
from engine.notices import worker

SETTINGS = web.AppKey("settings", settings.Settings)
STORAGE = web.AppKey("storage", storage.Storage)
MATCHER = web.AppKey("matcher", matching.Matcher)
PIPELINE = web.AppKey("pipeline", pipeline.Pipeline)
#: One verifier per accepted secret (rotation): a signature made with any of them is accepted.
VERIFIERS = web.AppKey("verifiers", tuple[standardwebhooks.Webhook, ...])
#: The notice delivery worker running in this process (absent when delivery runs elsewhere).
DELIVERY = web.AppKey("delivery", worker.DeliveryWorker)
#: The bearer token that authenticated a request to /api.
API_TOKEN = web.RequestKey("api_token", storage.TokenRecord)
