"""The HTTP side: the Telegram webhook, health and readiness, metrics, the integration API."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from telegram import Update
from telegram.ext import Application

from bot import api, metrics
from bot.context import AppContext

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CTX_KEY: web.AppKey[AppContext] = web.AppKey("ctx", AppContext)
TELEGRAM_KEY: web.AppKey[Any] = web.AppKey("telegram", object)


def problem(status: int, title: str, detail: str) -> web.Response:
    """Errors as RFC 9457 problem documents."""
    return web.Response(
        status=status,
        text=json.dumps(
            {"type": "about:blank", "title": title, "status": status, "detail": detail}
        ),
        content_type="application/problem+json",
    )


async def webhook(request: web.Request) -> web.Response:
    ctx = request.app[CTX_KEY]
    application: Application = request.app[TELEGRAM_KEY]  # type: ignore[type-arg]
    expected = ctx.settings.webhook_secret or ""
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return problem(403, "Forbidden", "missing or wrong secret token")
    try:
        payload = await request.json()
        update = Update.de_json(payload, application.bot)
    except (ValueError, TypeError, KeyError):
        return problem(400, "Bad Request", "the body is not a Telegram update")
    metrics.UPDATES.labels("webhook").inc()
    # Queued, not awaited: Telegram gets its answer at once and the bot works through the queue.
    await application.update_queue.put(update)
    return web.Response(text="ok")


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ctx = request.app[CTX_KEY]
    try:
        await ctx.db.ping()
    except Exception as error:
        log.warning("readiness: database unreachable (%s)", type(error).__name__)
        return problem(503, "Not ready", "the database cannot be reached")
    if not await ctx.db.migrations_current():
        return problem(
            503, "Not ready", "database migrations are not current: diabridge db upgrade"
        )
    return web.json_response({"status": "ready"})


async def metrics_endpoint(_request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def build_web_app(ctx: AppContext, application: Application | None) -> web.Application:  # type: ignore[type-arg]
    app = web.Application(client_max_size=1024 * 1024)
    app[CTX_KEY] = ctx
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    api.add_routes(app, ctx)  # /api/v1: the integration API (bot/api.py)
    if application is not None:
        app[TELEGRAM_KEY] = application
        app.router.add_post("/telegram/webhook", webhook)
    return app
