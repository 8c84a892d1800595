"""The app's own keys: what the app factory and the operators' API share. Each feature package
declares the keys of what it needs itself (ingest.webhooks.EVENTS, notices.web.NOTICES, …)."""

from __future__ import annotations

from aiohttp import web

from engine import settings, storage
from engine.core import matching

SETTINGS = web.AppKey("settings", settings.Settings)
STORAGE = web.AppKey("storage", storage.Storage)
MATCHER = web.AppKey("matcher", matching.Matcher)
