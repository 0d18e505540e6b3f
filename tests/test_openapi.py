"""/openapi.json documents every route, and /docs works with no internet access."""

from __future__ import annotations

import re
from typing import Any

import pytest
from quart import Quart

from .helpers import Client

Json = dict[str, Any]
UNDOCUMENTED = {"/openapi.json", "/docs", "/docs/start.js"}
DOCS_ASSETS = "/docs/assets/"
BODY_METHODS = {"post", "put", "patch"}
BODYLESS = {("post", "/api/email-verifications")}  # the caller's token says it all
AUTHENTICATED = {
    ("get", "/api/users"),
    ("get", "/api/users/{user_id}"),
    ("put", "/api/users/{user_id}"),
    ("patch", "/api/users/{user_id}"),
    ("delete", "/api/users/{user_id}"),
    ("delete", "/api/tokens/current"),
    ("get", "/api/profile"),
    ("get", "/api/tokens"),
    ("delete", "/api/tokens/others"),
    ("delete", "/api/tokens/{token_id}"),
    ("get", "/api/users/{user_id}/tokens"),
    ("delete", "/api/users/{user_id}/tokens"),
    ("post", "/api/email-verifications"),
    ("post", "/api/keys"),
    ("get", "/api/keys"),
    ("get", "/api/keys/{key_id}"),
    ("delete", "/api/keys/{key_id}"),
    ("get", "/api/users/{user_id}/keys"),
    ("delete", "/api/users/{user_id}/keys/{key_id}"),
    ("post", "/api/tokens/introspect"),
    ("get", "/api/audit-events"),
    ("get", "/api/profile/audit-events"),
}
OPTIONAL_AUTH = {("post", "/api/users")}
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@pytest.fixture
async def document(client: Client) -> Json:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body: Json = await response.get_json()
    return body


def operations(document: Json) -> list[tuple[str, str, Json]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def resolve(document: Json, schema: Json) -> Json:
    while "$ref" in schema:
        *_, name = schema["$ref"].split("/")
        schema = document["components"]["schemas"][name]
    return schema


def json_schema(document: Json, content: Json) -> Json:
    """The JSON schema of a response; errors are problem details too (docs/API.md §1)."""
    assert set(content) - {"application/problem+json"} == {"application/json"}
    if "application/problem+json" in content:
        problem = resolve(document, content["application/problem+json"]["schema"])
        assert {"type", "title", "status", "detail", "code", "details"} <= set(problem["required"])
    return resolve(document, content["application/json"]["schema"])


def routes(app: Quart) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route a client can call, HEAD and OPTIONS aside."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule in UNDOCUMENTED or rule.rule.startswith(DOCS_ASSETS):
            continue
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        found |= {(method.lower(), path) for method in rule.methods or () if method != "HEAD"}
    return found


async def test_document_is_openapi_3_1(document: Json) -> None:
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] == "Roster"
    assert document["info"]["version"]


async def test_every_route_and_method_is_documented(app: Quart, document: Json) -> None:
    documented = {(method, path) for method, path, _ in operations(document)}
    assert documented == routes(app)
    assert {"delete", "get", "patch", "put"} <= {m for m, p in documented if "{user_id}" in p}


async def test_path_parameters_are_documented(document: Json) -> None:
    for method, path, operation in operations(document):
        names = set(re.findall(r"{(\w+)}", path))
        parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "path"}
        assert set(parameters) == names, (method, path)
        for parameter in parameters.values():
            assert parameter["required"] is True
            assert parameter["schema"]["type"] == "integer"
            assert parameter["schema"]["minimum"] == 1


async def test_request_bodies_have_schemas(document: Json) -> None:
    for method, path, operation in operations(document):
        if method not in BODY_METHODS or (method, path) in BODYLESS:
            assert "requestBody" not in operation, (method, path)
            continue
        content = dict(operation["requestBody"]["content"])
        form = content.pop("application/x-www-form-urlencoded", None)
        if form is not None:  # RFC 7662's body, the same fields as the JSON one
            assert path == "/api/tokens/introspect", (method, path)
            assert form == content["application/json"], (method, path)
        schema = json_schema(document, content)
        assert schema["type"] == "object", (method, path)
        assert schema["properties"], (method, path)
        assert schema["additionalProperties"] is False, (method, path)  # unknown fields → 422


async def test_responses_have_schemas(document: Json) -> None:
    for method, path, operation in operations(document):
        responses: dict[str, Json] = operation["responses"]
        successes = [status for status in responses if status.startswith("2")]
        assert successes, (method, path)
        for status, response in responses.items():
            where = (method, path, status)
            assert response["description"], where
            assert "X-Request-ID" in response["headers"], where
            if status in ("204", "304"):
                assert "content" not in response, where
                continue
            if path == "/metrics":  # Prometheus text, outside the envelope (docs/API.md §4)
                assert response["content"] == {"text/plain": {"schema": {"type": "string"}}}
                continue
            if path == "/api/tokens/introspect" and status == "200":  # RFC 7662, as it is
                schema = json_schema(document, response["content"])
                assert schema["required"] == ["active"]
                continue
            schema = json_schema(document, response["content"])
            is_error = int(status) >= 400
            assert schema["required"] == (["error", "meta"] if is_error else ["data", "meta"])
            if is_error:
                error = resolve(document, schema["properties"]["error"])
                assert set(error["required"]) == {"code", "message", "details"}, where
        if method in BODY_METHODS and (method, path) not in BODYLESS:
            assert {"400", "413", "422"} <= set(responses), (method, path)
        if "{user_id}" in path:
            assert "404" in responses, (method, path)
        if (method, path) in AUTHENTICATED:
            assert "401" in responses, (method, path)


async def test_list_and_header_documentation(document: Json) -> None:
    listing = document["paths"]["/api/users"]["get"]
    names = {p["name"] for p in listing["parameters"] if p["in"] == "query"}
    assert names == {"page", "per_page", "sort", "q", "role", "status", "cursor"}
    envelope = json_schema(document, listing["responses"]["200"]["content"])
    assert envelope["properties"]["data"]["type"] == "array"
    by_page, after_cursor = (
        resolve(document, choice) for choice in envelope["properties"]["meta"]["anyOf"]
    )
    assert {"request_id", "page", "per_page", "total", "pages", "next_cursor"} <= set(
        by_page["required"]
    )
    assert set(after_cursor["required"]) == {"request_id", "per_page", "next_cursor"}
    assert "Link" in listing["responses"]["200"]["headers"]
    created = document["paths"]["/api/users"]["post"]["responses"]["201"]["headers"]
    assert {"Location", "ETag"} <= set(created)
    assert "Retry-After" in document["paths"]["/api/tokens"]["post"]["responses"]["429"]["headers"]


async def test_bearer_security_scheme(document: Json) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert "security" not in document  # no global default: each operation says
    for method, path, operation in operations(document):
        security: list[Json] = operation.get("security", [])
        if (method, path) in AUTHENTICATED:
            assert security == [{"bearerAuth": []}], (method, path)
        elif (method, path) in OPTIONAL_AUTH:
            # Public (no lock in /docs); an admin's token is described, and then honoured.
            assert security == [], (method, path)
            assert "admin's bearer token" in operation["description"], (method, path)
        else:
            assert security in ([], [{}]), (method, path)


async def test_documented_security_is_what_the_api_enforces(client: Client, document: Json) -> None:
    """Without a token, exactly the operations documented as needing one answer 401."""
    for method, path, operation in operations(document):
        url = re.sub(r"\{[a-z_]+\}", "1", path)
        if method == "get":
            response = await client.get(url)
        elif method == "delete":
            response = await client.delete(url)
        else:
            response = await client.open(url, method=method.upper(), json={})
        required = operation.get("security") == [{"bearerAuth": []}]
        assert (response.status_code == 401) is required, (method, path, response.status_code)


async def test_docs_page_uses_only_local_assets(client: Client) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    html = await response.get_data(as_text=True)

    scripts = re.findall(r"<script\b[^>]*\bsrc=[\"']([^\"']+)[\"']", html)
    styles = re.findall(r"<link\b[^>]*\bhref=[\"']([^\"']+)[\"']", html)
    assert scripts
    assert styles
    tags = re.findall(r"<(?:script|link)\b[^>]*>", html)
    for tag in tags:
        assert "http://" not in tag
        assert "https://" not in tag

    for url, kind in [*((u, "javascript") for u in scripts), *((u, "css") for u in styles)]:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url  # protocol-relative: another host
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert kind in asset.headers["Content-Type"], (url, asset.headers["Content-Type"])
        assert len(await asset.get_data()) > 100, url


async def test_docs_page_runs_no_inline_script_and_is_never_framed(client: Client) -> None:
    response = await client.get("/docs")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert response.headers["X-Frame-Options"] == "DENY"
    html = await response.get_data(as_text=True)
    inline = re.findall(r"<script\b(?![^>]*\bsrc=)[^>]*>", html)
    assert inline == []
