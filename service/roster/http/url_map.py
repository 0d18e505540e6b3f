"""Binding each request's URL map to its host: once per host, not once per request, and a
host that cannot be a name answered 400 like any malformed header.

Quart binds the map for every request: it lower-cases and normalises the `Host` twice and
IDNA-encodes it (~5 µs of `GET /health`'s path). The host part is the same for every request
to one host, so what Quart's own binding made of it is kept for the last 256 hosts seen. A
`Host` with an empty or over-long label (`a..b`) made werkzeug raise while the request context
was built, outside the error handlers: hypercorn answered a bare 500. Here it becomes an
adapter whose match raises `BadHost`, which the error handlers answer 400 in the envelope.
"""

from __future__ import annotations

from typing import Any

from quart.routing import QuartMap
from quart.wrappers import BaseRequestWebsocket
from werkzeug.exceptions import BadHost
from werkzeug.routing import MapAdapter

_HOSTS_KEPT = 256  # bound: a client may send any number of different Host headers


class RosterMap(QuartMap):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (Host, scheme) → the server name and subdomain Quart bound it to, oldest first.
        self._bound: dict[tuple[str, str], tuple[str, str | None]] = {}

    def bind_to_request(
        self, request: BaseRequestWebsocket, subdomain: str | None, server_name: str | None
    ) -> MapAdapter:
        # SERVER_NAME, subdomain or host matching: Quart's own way (Roster uses none of them).
        if server_name is not None or subdomain is not None or self.host_matching:
            return super().bind_to_request(request, subdomain, server_name)
        key = (request.host, request.scheme)
        known = self._bound.get(key)
        if known is None:
            return self._bind_first(request, key)
        return MapAdapter(
            self,
            known[0],
            request.root_path,
            known[1],
            request.scheme,
            request.path,
            request.method,
            request.query_string.decode(),
        )

    def _bind_first(self, request: BaseRequestWebsocket, key: tuple[str, str]) -> MapAdapter:
        """Quart's own binding, its host part kept for the next request to this host."""
        try:
            adapter = super().bind_to_request(request, None, None)
        except BadHost:  # not kept: a refused host costs what it always did
            return _RefusedHost(self, request.host, "/", "", request.scheme, "/", request.method)
        if len(self._bound) >= _HOSTS_KEPT:
            del self._bound[next(iter(self._bound))]
        self._bound[key] = (adapter.server_name, adapter.subdomain)
        return adapter


class _RefusedHost(MapAdapter):
    """The adapter of a request whose `Host` is no host name: matching it is a 400."""

    def match(self, *args: object, **kwargs: object) -> tuple[object, object]:  # type: ignore[override]
        raise BadHost()
