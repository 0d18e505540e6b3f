"""Operations (docs/API.md §4): liveness, readiness, and the Prometheus metrics."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response

from ..db.outage import is_unavailable
from ..errors import SCHEMA_NOT_READY, ServiceUnavailable
from ..http.envelope import meta, respond
from ..http.openapi import Reply
from ..runtime import Runtime
from ..serving.metrics import CONTENT_TYPE
from .contract import operation
from .schemas import HealthEnvelope, HealthOut, ReadinessEnvelope, ReadinessOut

blueprint = Blueprint("health", __name__)
ALIVE = HealthOut().model_dump_json().encode()  # the same on every answer: made once
metrics_blueprint = Blueprint("metrics", __name__)


@blueprint.get("/health")
@operation("check_liveness", "operations", Reply(200, HealthEnvelope, "Alive"))
async def health() -> Response:
    """Liveness: answers without touching the database."""
    return respond(ALIVE)


@blueprint.get("/health/ready")
@operation("check_readiness", "operations", Reply(200, ReadinessEnvelope, "Ready"), errors=(503,))
async def ready(runtime: Runtime) -> ReadinessEnvelope:
    """Readiness: 200 when the database answers and its schema is what this release needs;
    else 503 naming the cause."""
    retry_after = runtime.settings.retry_after_seconds
    try:
        problem = await runtime.schema_problem()
    except Exception as error:
        if not is_unavailable(error):
            raise
        raise ServiceUnavailable.retry_in(retry_after) from error
    if problem is not None:
        raise ServiceUnavailable.retry_in(retry_after, SCHEMA_NOT_READY, {"database": problem})
    return ReadinessEnvelope(data=ReadinessOut(), meta=meta())


@metrics_blueprint.get("/metrics")
@operation(
    "scrape_metrics",
    "operations",
    Reply(200, description="Prometheus text exposition format", text="text/plain"),
)
async def metrics(runtime: Runtime) -> Response:
    """Prometheus metrics of every worker of this server (outside the envelope)."""
    runtime.metrics.write()  # this worker's batch, up to now (the others' within a batch)
    body = await asyncio.to_thread(runtime.metrics.exposition)
    return Response(body, status=200, content_type=CONTENT_TYPE)
