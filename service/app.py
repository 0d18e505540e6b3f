"""The application factory."""

from __future__ import annotations

import gc

from quart import Quart
from quart_schema import QuartSchema
from quart_schema.openapi import Info

from . import __version__
from .api import operations, tokens, users
from .auth import SECURITY_SCHEMES
from .error_handlers import register_error_handlers
from .hooks import UNTIMED, register_hooks, route_template
from .json import OrjsonProvider
from .logs import configure_logging
from .openapi import RosterOpenAPIProvider
from .requests import RosterRequest
from .runtime import EXTENSION, Runtime
from .settings import Settings

# Fewer young-generation collections: a request allocates thousands of short-lived objects.
GC_THRESHOLDS = (20_000, 20, 20)


def create_app(settings: Settings | None = None) -> Quart:
    """Build the app. Nothing connects until it starts serving."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = Quart("service", static_folder=None)
    app.request_class = RosterRequest
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_content_length,
        BODY_TIMEOUT=settings.body_timeout_seconds,
        PROVIDE_AUTOMATIC_OPTIONS=False,
        QUART_SCHEMA_SWAGGER_JS_URL=f"{operations.DOCS_ASSETS}/swagger-ui-bundle.js",
        QUART_SCHEMA_SWAGGER_CSS_URL=f"{operations.DOCS_ASSETS}/swagger-ui.css",
        ROSTER_CORS_ORIGINS=settings.cors_origins,
        ROSTER_RETRY_AFTER=settings.retry_after_seconds,
    )
    QuartSchema(
        app,
        info=Info(title="Roster", version=__version__),
        security_schemes=SECURITY_SCHEMES,
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=RosterOpenAPIProvider,
    )
    app.json = OrjsonProvider(app)
    for blueprint in (operations.blueprint, tokens.blueprint, users.blueprint):
        app.register_blueprint(blueprint)
    if settings.metrics_enabled:
        app.register_blueprint(operations.metrics_blueprint)
    register_hooks(app)
    register_error_handlers(app)
    _manage_runtime(app, settings)
    return app


def _manage_runtime(app: Quart, settings: Settings) -> None:
    default_thresholds = gc.get_threshold()

    @app.before_serving
    async def start() -> None:
        app.extensions[EXTENSION] = runtime = await Runtime.start(settings)
        for rule in app.url_map.iter_rules():
            runtime.metrics.route_seen(route_template(rule), (rule.methods or set()) - UNTIMED)
        # Start-up objects (modules, app, schemas) live for good: out of the collector's way.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    @app.after_serving
    async def stop() -> None:
        await app.extensions.pop(EXTENSION).stop()
        gc.unfreeze()
        gc.set_threshold(*default_thresholds)
