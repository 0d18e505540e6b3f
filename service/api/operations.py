"""Health checks and the self-hosted API docs assets."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, send_from_directory
from quart_schema import hide, validate_response
from swagger_ui_bundle import swagger_ui_path

from .. import openapi
from ..error_handlers import service_unavailable
from ..responses import meta
from ..runtime import runtime
from ..schemas import HealthEnvelope, HealthOut, ReadinessEnvelope, ReadinessOut

blueprint = Blueprint("operations", __name__)
DOCS_ASSETS = "/docs/assets"


@blueprint.get("/health")
@validate_response(HealthEnvelope)
async def health() -> HealthEnvelope:
    """Liveness: answers without touching the database."""
    return HealthEnvelope(data=HealthOut(), meta=meta())


@blueprint.get("/health/ready")
@openapi.errors(503)
@validate_response(ReadinessEnvelope)
async def ready() -> ReadinessEnvelope:
    """Readiness: 200 when the database answers, else 503."""
    settings = runtime().settings
    try:
        await asyncio.wait_for(runtime().db.ping(), settings.db_connect_timeout)
    except Exception as error:
        raise service_unavailable() from error
    return ReadinessEnvelope(data=ReadinessOut(), meta=meta())


@blueprint.get(f"{DOCS_ASSETS}/<path:filename>")
@hide
async def docs_asset(filename: str) -> Response:
    """Swagger UI's files, served from the installed package: /docs needs no internet."""
    return await send_from_directory(swagger_ui_path, filename)
