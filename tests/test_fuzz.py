"""Fuzzing at the ASGI level (hypothesis, in process, bounded): whatever a client sends as a
body, a query string, a cursor or a header, the answer is a 4xx or a success in the contract's
envelope, never a 500 (docs/API.md §1). Derandomized: the same cases on every run, so a
failure is reproducible and `make test` takes the same time.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .factories import Account
from .helpers import Client

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestDeprecationWarning")

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CLIENT_ERRORS = {400, 401, 403, 404, 405, 409, 412, 413, 422, 429}

# JSON-ish values: what a client may put in a body, hostile strings included.
texts = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\u202e",
        "a" * 5000,
        "%00",
        "' OR 1=1 --",
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    ]
)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(texts, inner, max_size=5),
    max_leaves=20,
)
user_fields = st.fixed_dictionaries(
    {},
    optional={
        "name": json_values,
        "email": json_values,
        "password": json_values,
        "role": json_values,
        "status": json_values,
        "id": json_values,
        "created_at": json_values,
    },
)
raw_bodies = st.binary(max_size=500) | json_values.map(lambda value: json.dumps(value).encode())


def assert_contract(status: int, body: Any) -> None:
    assert status < 500, body
    if status in (204, 304):
        return
    assert isinstance(body, dict), body
    assert set(body) in ({"data", "meta"}, {"error", "meta"}), body
    assert isinstance(body["meta"]["request_id"], str)
    if "error" in body:
        assert status in CLIENT_ERRORS, (status, body)
        assert set(body["error"]) == {"code", "message", "details"}


async def answer(response: Any) -> tuple[int, Any]:
    raw = await response.get_data()
    return response.status_code, (json.loads(raw) if raw else None)


@FUZZ
@given(body=user_fields | json_values)
async def test_registration_bodies(client: Client, body: Any) -> None:
    response = await client.post("/api/users", json=body)
    assert_contract(*await answer(response))


@FUZZ
@given(raw=raw_bodies, content_type=st.sampled_from(["application/json", "text/plain", "x+json"]))
async def test_raw_bodies(client: Client, alice: Account, raw: bytes, content_type: str) -> None:
    for method, path in (("POST", "/api/tokens"), ("PATCH", alice.url), ("PUT", alice.url)):
        response = await client.open(  # type: ignore[call-arg]  # quart.typing wants json=
            path,
            method=method,
            data=raw,
            headers={**alice.headers(), "Content-Type": content_type},
        )
        assert_contract(*await answer(response))


# Numbers at the edges: of the fields' ranges, of 32, 53 and 64 bits, and past them.
EDGES = (0, -1, 1, 20, 100, 101, 2**31, 2**53, 2**62, 2**63 // 20 + 1, 2**63 - 1, 2**63, 10**19)
numbers = st.sampled_from(EDGES) | st.integers()


def mostly(*choices: str) -> st.SearchStrategy[str]:
    """Valid values three times in four (so that one bad parameter does not hide the rest),
    anything else otherwise."""
    valid = st.sampled_from(choices)
    return st.one_of(valid, valid, valid, texts)


list_queries = st.fixed_dictionaries(
    {},
    optional={
        "page": st.one_of(numbers.map(str), numbers.map(str), texts),
        "per_page": mostly("1", "20", "100") | numbers.map(str),
        "sort": mostly("id", "-name", "email", "-created_at"),
        "q": mostly("e", "example", "%", "_", "ß", "İ") | texts,
        "role": mostly("user", "admin"),
        "status": mostly("active", "disabled"),
        "unknown": texts,
    },
)


@settings(FUZZ, max_examples=400)
@given(query=list_queries)
@example(query={"role": "user", "page": "9223372036854775807"})  # was a 500: window past 2**63
@example(query={"page": "1224128256875422976", "role": "admin"})  # schemathesis' find
@example(query={"page": str(2**62), "q": "abc"})
async def test_list_query_strings(client: Client, alice: Account, query: dict[str, str]) -> None:
    response = await client.get("/api/users", query_string=query, headers=alice.headers())
    assert_contract(*await answer(response))


@FUZZ
@given(payload=json_values, signature=st.binary(max_size=40))
async def test_cursors(client: Client, alice: Account, payload: Any, signature: bytes) -> None:
    """Forged cursors: any payload, any signature, in the cursor's own shape."""
    encode = base64.urlsafe_b64encode
    text = encode(json.dumps(payload).encode()).rstrip(b"=") + b"." + encode(signature).rstrip(b"=")
    response = await client.get(
        "/api/users", query_string={"cursor": text.decode()}, headers=alice.headers()
    )
    status, body = await answer(response)
    assert_contract(status, body)
    assert status == 422, body
    assert "cursor" in body["error"]["details"], body


header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200)


@FUZZ
@given(
    name=st.sampled_from(
        ["Authorization", "If-Match", "If-None-Match", "Idempotency-Key", "X-Request-ID", "Accept"]
    ),
    value=header_values,
)
async def test_headers(client: Client, alice: Account, name: str, value: str) -> None:
    for method, path, body in (("GET", alice.url, None), ("PATCH", alice.url, {"name": "F"})):
        headers = {**alice.headers(), name: value}
        response = await client.open(path, method=method, json=body, headers=headers)
        status, answered = await answer(response)
        if response.headers.get("Content-Type", "").startswith("application/problem+json"):
            assert status < 500
            assert answered["status"] == status
            continue
        assert_contract(status, answered)
