"""Roster binds each request's URL map as Quart does, the host part worked out once per host."""

from __future__ import annotations

import pytest
from quart import Quart, request
from quart.routing import QuartMap
from werkzeug.routing import MapAdapter

HOSTS = [
    "127.0.0.1:8000",
    "EXAMPLE.com",
    "example.com:80",
    "example.com:443",
    "bücher.example",
    "[::1]:8000",
    "api.eu.example:8443",
]


def bound(adapter: MapAdapter) -> tuple[object, ...]:
    return (
        adapter.server_name,
        adapter.script_name,
        adapter.subdomain,
        adapter.url_scheme,
        adapter.path_info,
        adapter.default_method,
        adapter.query_args,
        adapter.websocket,
    )


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("host", HOSTS)
async def test_each_request_is_bound_as_quart_binds_it(app: Quart, host: str, scheme: str) -> None:
    for _ in range(2):  # the second time from what was worked out the first
        async with app.test_request_context(
            "/api/users?q=ann", method="PATCH", headers={"Host": host}, scheme=scheme
        ):
            ours = app.url_map.bind_to_request(request, None, None)  # type: ignore[attr-defined]
            quarts = QuartMap.bind_to_request(app.url_map, request, None, None)  # type: ignore[arg-type]
            assert bound(ours) == bound(quarts)
            assert (
                ours.match(method="GET")[0] == quarts.match(method="GET")[0] == "users.list_users"
            )
