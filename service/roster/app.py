"""The application factory: `create_app(settings)` builds everything; serving starts the rest."""

from __future__ import annotations

import gc
from typing import Any

from quart import Quart, Response
from quart_schema import QuartSchema, Tag
from quart_schema.openapi import Info

from . import __version__
from .api import (
    audit,
    docs,
    health,
    introspection,
    keys,
    recovery,
    sessions,
    tokens,
    users,
    verification,
)
from .api.auth import SECURITY_SCHEMES, wants_runtime
from .http.bodies import RosterRequest
from .http.connection import LeanHTTPConnection
from .http.error_handlers import register_error_handlers
from .http.hooks import register_hooks
from .http.json_provider import OrjsonProvider
from .http.openapi import RosterOpenAPIProvider
from .http.routing import route_template
from .http.url_map import RosterMap
from .runtime import Runtime
from .serving.logs import configure_logging
from .settings import Settings

RUNTIME = "roster"  # where the app keeps its Runtime (app.extensions)
# Fewer young-generation collections: a request allocates thousands of short-lived objects.
GC_THRESHOLDS = (20_000, 20, 20)
UNTIMED = frozenset({"HEAD", "OPTIONS"})  # methods whose latency series are not pre-made
TAGS: list[Tag | dict[Any, Any]] = [
    Tag(name="users", description="Register, list, read, change and delete users"),
    Tag(name="tokens", description="Log in and out; who am I"),
    Tag(name="sessions", description="Your live tokens, and ending them"),
    Tag(name="keys", description="API keys: credentials for programs, narrowed to scopes"),
    Tag(name="recovery", description="A forgotten password, reset by mail"),
    Tag(name="verification", description="An email address, proved by mail"),
    Tag(name="audit", description="The audit log, and your own security log"),
    Tag(name="operations", description="Liveness, readiness and metrics"),
]


class _Roster(Quart):
    url_map_class = RosterMap  # each request's URL map bound once per host (http/url_map.py)


def create_app(settings: Settings | None = None) -> Quart:
    """Build the app. Nothing connects until it starts serving."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format, settings.log_batch_seconds)
    app = _Roster("roster", static_folder=None)
    app.request_class = RosterRequest
    app.asgi_http_class = LeanHTTPConnection
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_content_length,
        BODY_TIMEOUT=settings.body_timeout_seconds,
        PROVIDE_AUTOMATIC_OPTIONS=False,
    )
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
    _answers_pass_through(app)
    app.json = OrjsonProvider(app)
    blueprints = (
        health,
        audit,
        docs,
        introspection,
        tokens,
        sessions,
        keys,
        users,
        recovery,
        verification,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint.blueprint)
    if settings.metrics_enabled:
        app.register_blueprint(health.metrics_blueprint)
    runtime = app.extensions[RUNTIME] = Runtime(settings)
    register_hooks(app, settings, runtime.metrics)
    register_error_handlers(app, settings, runtime.schema_problem)
    _give_runtime(app, runtime)
    _serve_with(app, runtime)
    return app


def _give_runtime(app: Quart, runtime: Runtime) -> None:
    """Every view that asks for `runtime` is given it with its path's arguments: handlers are
    handed what they need, not left to look it up."""
    wanted = {endpoint for endpoint, view in app.view_functions.items() if wants_runtime(view)}

    @app.url_value_preprocessor
    def give(endpoint: str | None, values: dict[str, Any] | None) -> None:
        if endpoint in wanted and values is not None:
            values["runtime"] = runtime


def _answers_pass_through(app: Quart) -> None:
    """A handler's `Response` goes out as it is: quart-schema's `make_response` would first
    look for models to dump in it (five lookups of the app's config through its proxy)."""
    converting = app.make_response

    async def make_response(result: Any) -> Any:
        if type(result) is Response:
            return result
        return await converting(result)

    app.make_response = make_response  # type: ignore[method-assign]


def _serve_with(app: Quart, runtime: Runtime) -> None:
    default_thresholds = gc.get_threshold()

    @app.before_serving
    async def start() -> None:
        await runtime.start()
        for rule in app.url_map.iter_rules():
            runtime.metrics.route_seen(route_template(rule), (rule.methods or set()) - UNTIMED)
        # Start-up objects (modules, app, schemas) live for good: out of the collector's way.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    @app.after_serving
    async def stop() -> None:
        await runtime.stop()
        gc.unfreeze()
        gc.set_threshold(*default_thresholds)
