"""Binding each request's URL map to its host: once per host, not once per request, and a
host that cannot be a name answered 400 like any malformed header.

Quart binds the map for every request: it lower-cases and normalises the `Host` twice and
IDNA-encodes it (~5 µs of `GET /health`'s path). The host part is the same for every request
to one host, so it is worked out once, for the last few hosts seen. A `Host` with an empty or
over-long label (`a..b`) made werkzeug raise while the request context was built, outside the
error handlers: hypercorn answered a bare 500. Here it becomes an adapter whose match raises
`BadHost`, which the error handlers answer 400 in the envelope.
"""

from __future__ import annotations

import functools

from quart.routing import QuartMap
from quart.wrappers import BaseRequestWebsocket
from werkzeug.exceptions import BadHost
from werkzeug.routing import MapAdapter

_HOSTS_KEPT = 256  # bound: a client may send any number of different Host headers


class RosterMap(QuartMap):
    def bind_to_request(
        self, request: BaseRequestWebsocket, subdomain: str | None, server_name: str | None
    ) -> MapAdapter:
        # SERVER_NAME, subdomain or host matching: Quart's own way (Roster uses none of them).
        if server_name is not None or subdomain is not None or self.host_matching:
            return super().bind_to_request(request, subdomain, server_name)
        scheme = request.scheme
        try:
            bound_host = _bound_host(request.host, scheme)
        except BadHost:
            return _RefusedHost(self, request.host, "/", "", scheme, "/", request.method)
        return MapAdapter(
            self,
            bound_host,
            request.root_path,
            "",  # the request's own host is the server name: no subdomain part
            scheme,
            request.path,
            request.method,
            request.query_string.decode(),
        )


@functools.lru_cache(maxsize=_HOSTS_KEPT)
def _bound_host(host: str, scheme: str) -> str:
    """The server name werkzeug's `Map.bind` makes of the `Host` Quart normalises (a default
    port dropped, lower case, IDNA), or BadHost (not cached)."""
    host = host.lower()
    if scheme in {"http", "ws"} and host.endswith(":80"):
        host = host[:-3]
    elif scheme in {"https", "wss"} and host.endswith(":443"):
        host = host[:-4]
    name, port_sep, port = host.partition(":")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise BadHost() from error
    return f"{name}{port_sep}{port}"


class _RefusedHost(MapAdapter):
    """The adapter of a request whose `Host` is no host name: matching it is a 400."""

    def match(self, *args: object, **kwargs: object) -> tuple[object, object]:  # type: ignore[override]
        raise BadHost()
