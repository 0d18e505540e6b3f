"""Health checks and the self-hosted API docs assets."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, send_from_directory
from quart_schema import hide, validate_response
from swagger_ui_bundle import swagger_ui_path

from .. import openapi
from ..db import is_unavailable
from ..error_handlers import service_unavailable
from ..metrics import CONTENT_TYPE
from ..migrations import schema_problem
from ..responses import meta
from ..runtime import runtime
from ..schemas import HealthEnvelope, HealthOut, ReadinessEnvelope, ReadinessOut

blueprint = Blueprint("operations", __name__)
metrics_blueprint = Blueprint("metrics", __name__)
DOCS_ASSETS = "/docs/assets"
SCHEMA_NOT_READY = "The database schema is not what this release needs"


@blueprint.get("/health")
@validate_response(HealthEnvelope)
async def health() -> HealthEnvelope:
    """Liveness: answers without touching the database."""
    return HealthEnvelope(data=HealthOut(), meta=meta())


@blueprint.get("/health/ready")
@openapi.errors(503)
@validate_response(ReadinessEnvelope)
async def ready() -> ReadinessEnvelope:
    """Readiness: 200 when the database answers and its schema is what this release needs;
    else 503 naming the cause."""
    settings = runtime().settings
    try:
        revision = await asyncio.wait_for(
            runtime().db.schema_revision(), settings.db_connect_timeout
        )
    except Exception as error:
        if not is_unavailable(error):
            raise
        raise service_unavailable() from error
    problem = schema_problem(revision)
    if problem is not None:
        raise service_unavailable(SCHEMA_NOT_READY, {"database": problem})
    return ReadinessEnvelope(data=ReadinessOut(), meta=meta())


@metrics_blueprint.get("/metrics")
@openapi.response(200, "Prometheus text exposition format", text="text/plain")
async def metrics() -> Response:
    """Prometheus text exposition of every worker of this server (outside the envelope)."""
    body = await asyncio.to_thread(runtime().metrics.exposition)
    return Response(body, status=200, content_type=CONTENT_TYPE)


@blueprint.get(f"{DOCS_ASSETS}/<path:filename>")
@hide
async def docs_asset(filename: str) -> Response:
    """Swagger UI's files, served from the installed package: /docs needs no internet."""
    return await send_from_directory(swagger_ui_path, filename)
