"""GET /metrics (docs/API.md §4): Prometheus text, by route template, for the whole server."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from roster.serving.metrics import LATENCY_BUCKETS, shared_exposition
from roster.settings import RateLimit, Settings

from .factories import user_with_token
from .helpers import PASSWORD, Client, assert_error, bearer, serving
from .server import Server, register, run_server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: Client) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(await response.get_data(as_text=True))


async def test_a_client_inventing_methods_cannot_invent_series(client: Client) -> None:
    """Methods no route knows are counted as `other`: 2,000 invented methods took /metrics from
    451 to 34,451 series."""

    async def probe(n: int) -> None:
        response = await client.open("/health", method=f"PROBE{n}", json=None)
        assert response.status_code == 405

    await probe(0)
    await scrape(client)  # its own series, counted from the next scrape on
    before = await scrape(client)
    for n in range(1, 51):
        await probe(n)
    found = await scrape(client)
    assert len(found) == len(before)
    assert not any("PROBE" in dict(labels).get("method", "") for _, labels in found)
    other = {"route": "unmatched", "method": "other", "status": "405"}
    assert value(found, "roster_http_requests_total", **other) == 51


async def test_requests_are_counted_by_route_template_method_and_status(client: Client) -> None:
    user, token = await user_with_token(client)
    await client.get(f"/api/users/{user['id']}", headers=bearer(token))
    await client.get("/api/users/999999", headers=bearer(token))
    await client.get("/no/such/route")

    found = await scrape(client)
    route = "/api/users/{user_id}"
    assert value(found, "roster_http_requests_total", route=route, method="GET", status="200") == 1
    assert value(found, "roster_http_requests_total", route=route, method="GET", status="404") == 1
    assert (
        value(found, "roster_http_requests_total", route="unmatched", method="GET", status="404")
        == 1
    )
    assert (
        value(found, "roster_http_requests_total", route="/api/users", method="POST", status="201")
        == 1
    )
    assert not any(str(user["id"]) in dict(labels).get("route", "") for _, labels in found)
    count = value(found, "roster_http_request_duration_seconds_count", route=route, method="GET")
    assert count == 2


async def test_latencies_fall_in_their_buckets_and_sum(client: Client) -> None:
    """Each request is in exactly one bucket (cumulative `le` counts end at the count), and the
    sum is the latencies' total (positive, below the wall time the requests took)."""
    _, token = await user_with_token(client)
    started = time.perf_counter()
    for _ in range(5):
        assert (await client.get("/api/profile", headers=bearer(token))).status_code == 200
    took = time.perf_counter() - started
    found = await scrape(client)
    series = {"route": "/api/profile", "method": "GET"}
    assert value(found, "roster_http_request_duration_seconds_count", **series) == 5
    assert 0 < value(found, "roster_http_request_duration_seconds_sum", **series) < took
    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (name, labels), count in found.items()
        if name == "roster_http_request_duration_seconds_bucket" and series.items() <= labels
    )
    counts = [count for _, count in buckets]
    assert len(counts) == len(LATENCY_BUCKETS) + 1  # and +Inf
    assert counts == sorted(counts)
    assert counts[-1] == 5
    # Each request's latency lies between its bucket's bound and the one below.
    bounds = [bound for bound, _ in buckets]
    in_bucket = [after - before for before, after in zip([0.0, *counts], counts, strict=False)]
    low = sum(n * bound for n, bound in zip(in_bucket, [0.0, *bounds], strict=False))
    high = sum(n * bound for n, bound in zip(in_bucket, bounds, strict=True) if n)
    assert low <= value(found, "roster_http_request_duration_seconds_sum", **series) <= high


async def test_a_workers_samples_reach_the_shared_files_within_a_batch(
    settings: Settings, tmp_path: Path
) -> None:
    """What another worker's scrape reads: this worker's requests and its database gauges,
    written within METRICS_BATCH_SECONDS without a scrape of its own."""
    shared = tmp_path / "metrics"
    async with serving(
        settings, prometheus_multiproc_dir=str(shared), metrics_batch_seconds=0.05
    ) as app:
        client = app.test_client()
        _, token = await user_with_token(client)
        for _ in range(3):
            await client.get("/api/profile", headers=bearer(token))
        series = {"route": "/api/profile", "method": "GET", "status": "200"}
        for _ in range(100):
            found = shared_samples(shared)
            if value(found, "roster_http_requests_total", **series) == 3:
                break
            await asyncio.sleep(0.02)
        assert value(found, "roster_http_requests_total", **series) == 3
        for kind in ("read", "write"):
            assert found[("roster_database_in_use", frozenset({("kind", kind)}))] == 0


def shared_samples(directory: Path) -> Samples:
    """The samples in the shared files, read as any worker's scrape reads them."""
    return samples(shared_exposition(directory).decode())


async def test_every_route_has_its_latency_series_from_the_start(client: Client) -> None:
    found = await scrape(client)
    for route, method in [("/api/users/{user_id}", "PATCH"), ("/api/tokens", "POST")]:
        key = (
            "roster_http_request_duration_seconds_count",
            frozenset({("route", route), ("method", method)}),
        )
        assert found[key] == 0


async def test_logins_are_counted_by_outcome(settings: Settings) -> None:
    async with serving(settings, login_rate_limit=RateLimit(3, 60)) as app:
        client = app.test_client()
        user, _token = await user_with_token(client)  # one success
        wrong = {"email": user["email"], "password": "wrong-password"}
        for _ in range(2):
            assert (await client.post("/api/tokens", json=wrong)).status_code in (401, 429)
        assert (await client.post("/api/tokens", json=wrong)).status_code == 429
        found = await scrape(client)
    assert value(found, "roster_logins_total", outcome="success") == 1
    assert value(found, "roster_logins_total", outcome="invalid_credentials") == 2
    assert value(found, "roster_logins_total", outcome="rate_limited") == 1
    assert value(found, "roster_login_rate_limited_total", limit="email") == 1


async def test_database_and_hashing_gauges_are_exposed(client: Client, settings: Settings) -> None:
    found = await scrape(client)
    kinds = ("read", "write") if settings.is_sqlite else ("connections",)
    for kind in kinds:
        assert value(found, "roster_database_capacity", kind=kind) > 0
    assert value(found, "roster_database_in_use", kind="read") >= 0
    assert ("roster_password_hash_queue_depth", frozenset()) in found


async def test_metrics_can_be_turned_off(settings: Settings) -> None:
    async with serving(settings, metrics_enabled=False) as app:
        response = await app.test_client().get("/metrics")
        await assert_error(response, 404, "NOT_FOUND")
        document = await (await app.test_client().get("/openapi.json")).get_json()
    assert "/metrics" not in document["paths"]


# --- the whole server: two workers, one scrape -------------------------------------------------


@pytest.fixture
def two_workers(database_url: str, tmp_path: Path) -> Iterator[Server]:
    with run_server(database_url, workers=2, log_dir=tmp_path) as server:
        yield server


@pytest.mark.e2e
async def test_one_scrape_reports_every_worker(two_workers: Server) -> None:
    """Requests answered by both workers (fresh connections spread over them) are all in the
    count, whichever worker answers the scrape."""
    sent = 0
    pids: set[str] = set()
    async with httpx.AsyncClient(base_url=two_workers.base_url, timeout=30) as http:
        user = await register(http)
        token = await login_over(http, user["email"])
        while len(pids) < 2 and sent < 400:
            async with httpx.AsyncClient(base_url=two_workers.base_url, timeout=30) as fresh:
                response = await fresh.get(f"/api/users/{user['id']}", headers=bearer(token))
            assert response.status_code == 200
            sent += 1
            pids.add(await worker_that_answered(two_workers, response.headers["X-Request-ID"]))
        assert len(pids) == 2, "both workers answered"
        # Whichever worker takes a scrape, it reports the sum: its own requests at once, the
        # other's once that worker has written its batch (METRICS_BATCH_SECONDS, 1 s).
        totals = [await scraped_total(http) for _ in range(3)]
        deadline = time.monotonic() + 10
        while totals[-1] != sent and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            totals.append(await scraped_total(http))
        assert totals[-1] == sent
        for _ in range(3):
            assert await scraped_total(http) == sent
        assert max(totals) == sent


async def scraped_total(http: httpx.AsyncClient) -> float:
    found = samples((await http.get("/metrics")).text)
    return value(
        found, "roster_http_requests_total",
        route="/api/users/{user_id}", method="GET", status="200",
    )  # fmt: skip


async def login_over(http: httpx.AsyncClient, email: str) -> str:
    response = await http.post("/api/tokens", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201
    token: str = response.json()["data"]["token"]
    return token


async def worker_that_answered(server: Server, request_id: str) -> str:
    """The pid of the worker whose access line carries `request_id`."""
    assert await server.logged(f"[{request_id}]")
    match = re.search(rf"pid=(\d+) \[{request_id}\]", server.log())
    assert match is not None
    return match.group(1)
