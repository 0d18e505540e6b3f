"""The application factory: `create_app(settings)` builds everything; serving starts the rest."""

from __future__ import annotations

import gc
from typing import Any

from quart import Quart
from quart_schema import QuartSchema, Tag
from quart_schema.openapi import Info

from . import __version__
from .api import docs, health, sessions, tokens, users
from .api.auth import SECURITY_SCHEMES
from .http.bodies import RosterRequest
from .http.context import RUNTIME, attach_settings
from .http.error_handlers import register_error_handlers
from .http.hooks import register_hooks
from .http.json_provider import OrjsonProvider
from .http.openapi import RosterOpenAPIProvider
from .http.routing import route_template
from .runtime import Runtime
from .serving.logs import configure_logging
from .settings import Settings

# Fewer young-generation collections: a request allocates thousands of short-lived objects.
GC_THRESHOLDS = (20_000, 20, 20)
UNTIMED = frozenset({"HEAD", "OPTIONS"})  # methods whose latency series are not pre-made
TAGS: list[Tag | dict[Any, Any]] = [
    Tag(name="users", description="Register, list, read, change and delete users"),
    Tag(name="tokens", description="Log in and out; who am I"),
    Tag(name="sessions", description="Your live tokens, and ending them"),
    Tag(name="operations", description="Liveness, readiness and metrics"),
]


def create_app(settings: Settings | None = None) -> Quart:
    """Build the app. Nothing connects until it starts serving."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = Quart("roster", static_folder=None)
    app.request_class = RosterRequest
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_content_length,
        BODY_TIMEOUT=settings.body_timeout_seconds,
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
    attach_settings(app, settings)
    QuartSchema(
        app,
        info=Info(title="Roster", version=__version__),
        security_schemes=SECURITY_SCHEMES,
        tags=TAGS,
        swagger_ui_path=None,  # api/docs.py serves the page
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=RosterOpenAPIProvider,
    )
    app.json = OrjsonProvider(app)
    blueprints = (health, docs, tokens, sessions, users)
    for blueprint in (module.blueprint for module in blueprints):
        app.register_blueprint(blueprint)
    if settings.metrics_enabled:
        app.register_blueprint(health.metrics_blueprint)
    register_hooks(app)
    register_error_handlers(app)
    _manage_runtime(app, settings)
    return app


def _manage_runtime(app: Quart, settings: Settings) -> None:
    default_thresholds = gc.get_threshold()

    @app.before_serving
    async def start() -> None:
        app.extensions[RUNTIME] = runtime = await Runtime.start(settings)
        for rule in app.url_map.iter_rules():
            runtime.metrics.route_seen(route_template(rule), (rule.methods or set()) - UNTIMED)
        # Start-up objects (modules, app, schemas) live for good: out of the collector's way.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    @app.after_serving
    async def stop() -> None:
        await app.extensions.pop(RUNTIME).stop()
        gc.unfreeze()
        gc.set_threshold(*default_thresholds)
