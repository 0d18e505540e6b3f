"""The client's address (docs/API.md §4): the peer's, unless TRUSTED_PROXY_HOPS reverse proxies
stand in front, each appending the address it received the request from to X-Forwarded-For."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from quart import Request

from ..schemas import UNKNOWN_ADDRESS
from .context import Globals, current_g, current_request

UNKNOWN = UNKNOWN_ADDRESS


def current_client_address(hops: int) -> str:
    """The request's client address, worked out once per request (`hops`: the trusted
    proxies, TRUSTED_PROXY_HOPS)."""
    return client_address_of(current_request(), current_g(), hops)


def client_address_of(request: Request, store: Globals, hops: int) -> str:
    """`request`'s client address, kept in its `g` (`store`)."""
    address: str | None = store.get("client_address")
    if address is None:
        forwarded = request.headers.getlist("X-Forwarded-For") if hops else ()
        store.client_address = address = client_address(request.remote_addr, forwarded, hops)
    return address


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted_hops: int) -> str:
    """The address `trusted_hops` from the right of X-Forwarded-For, or the peer's when the
    header is shorter or that entry is not an IP address (a client may send anything)."""
    fallback = _peer_address(peer) or UNKNOWN
    if trusted_hops <= 0:
        return fallback
    hops = [entry.strip() for header in forwarded_for for entry in header.split(",")]
    if len(hops) < trusted_hops:
        return fallback
    return _address(hops[-trusted_hops]) or fallback


@functools.lru_cache(maxsize=1024)  # the same few peers, each parsed once (short strings)
def _peer_address(text: str | None) -> str | None:
    return _address(text)


def _address(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
