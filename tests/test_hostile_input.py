"""Hostile input: a clear 4xx JSON error (never a 5xx, never HTML), and nothing is stored."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from quart import Quart, Response

from roster.http.error_handlers import NOT_A_HOST
from roster.settings import Settings

from .factories import Account, admin_with_token
from .helpers import (
    PASSWORD,
    Client,
    Json,
    assert_error,
    bearer,
    body_of,
    login,
    register,
    serving,
    total_users,
    unique_email,
)

JSON = {"Content-Type": "application/json"}
ONE_MIB = 1024 * 1024


@pytest.fixture
def caller(alice: Account) -> Account:
    """Who sends the hostile input: a user with a token."""
    return alice


async def stored_self(caller: Account) -> Json:
    response = await caller.client.get(caller.url, headers=caller.headers())
    assert response.status_code == 200
    data: Json = (await body_of(response))["data"]
    return data


async def assert_nothing_stored(caller: Account) -> None:
    """Only the caller exists, unchanged, and their password still works."""
    assert await total_users(caller.client, caller.token) == 1
    assert await stored_self(caller) == caller.user
    login = await caller.client.post(
        "/api/tokens", json={"email": caller.user["email"], "password": PASSWORD}
    )
    assert login.status_code == 201


def new_user(**overrides: Any) -> Json:
    return {"name": "Mallory", "email": unique_email("new"), "password": PASSWORD, **overrides}


Send = Callable[[Account, bytes], Awaitable[Response]]


async def _register_raw(caller: Account, body: bytes) -> Response:
    return await caller.client.post("/api/users", data=body, headers=JSON)


async def _patch_raw(caller: Account, body: bytes) -> Response:
    return await caller.client.patch(caller.url, data=body, headers=caller.headers(JSON))


async def _put_raw(caller: Account, body: bytes) -> Response:
    return await caller.client.put(caller.url, data=body, headers=caller.headers(JSON))


async def _login_raw(caller: Account, body: bytes) -> Response:
    return await caller.client.post("/api/tokens", data=body, headers=JSON)


SENDERS: dict[str, Send] = {
    "POST /api/users": _register_raw,
    "PATCH /api/users/{id}": _patch_raw,
    "PUT /api/users/{id}": _put_raw,
    "POST /api/tokens": _login_raw,
}


# --- unparseable and non-object JSON ---------------------------------------------------------

UNPARSEABLE = [
    b'{"name": "Bob", "email": "bob@example.com"',  # truncated
    b'{"name": "Bob"} trailing',
    b'{"name": "Bob"}{"name": "Eve"}',
    b"",
    b" ",
    b"{name: 'Bob'}",
    b"{'name': 'Bob'}",
    b'{"name": "Bob",}',
    b'{"name": NaN}',
    b'{"name": Infinity}',
    b'{"name": "Bob" "email": "x"}',
    b'{"name": "unterminated}',
    b'{"name": "bad escape \\x41"}',
    b"nul",
    b"[",
    b"\x00",
    b"// comment\n{}",
]
NON_OBJECTS = [b"null", b"[]", b'[{"name": "Bob"}]', b'"a string"', b"42", b"-1.5", b"true"]


async def test_unparseable_json_is_400(caller: Account) -> None:
    for name, send in SENDERS.items():
        for body in UNPARSEABLE:
            response = await send(caller, body)
            details = await assert_error(response, 400, "BAD_REQUEST")
            assert "body" in details, (name, body)
    await assert_nothing_stored(caller)


async def test_json_that_is_not_an_object_is_422(caller: Account) -> None:
    for name, send in SENDERS.items():
        for body in NON_OBJECTS:
            response = await send(caller, body)
            details = await assert_error(response, 422, "VALIDATION_ERROR")
            assert "body" in details, (name, body)
    await assert_nothing_stored(caller)


# --- encodings and control characters --------------------------------------------------------

BAD_ENCODINGS = [
    b'{"name": "\xff\xfe", "email": "e1@example.com", "password": "%s"}',
    b'{"name": "\xc0\xaf", "email": "e2@example.com", "password": "%s"}',  # overlong
    b'{"name": "\xed\xa0\x80", "email": "e3@example.com", "password": "%s"}',  # raw surrogate
    b'{"name": "caf\xe9", "email": "e4@example.com", "password": "%s"}',  # Latin-1
    b'{"name": "\\ud800", "email": "e5@example.com", "password": "%s"}',  # lone high surrogate
    b'{"name": "\\udc00x", "email": "e6@example.com", "password": "%s"}',  # lone low surrogate
    b'{"name": "Bob", "email": "e7\\ud83d@example.com", "password": "%s"}',
    b'{"name": "Bob", "email": "e8@example.com", "password": "pass\\udfffword"}',
]


async def test_invalid_utf8_and_lone_surrogates_are_400(caller: Account) -> None:
    for template in BAD_ENCODINGS:
        body = template.replace(b"%s", PASSWORD.encode())
        for send in (_register_raw, _patch_raw, _put_raw):
            response = await send(caller, body)
            details = await assert_error(response, 400, "BAD_REQUEST")
            assert "body" in details, body
    # Login too: an unencodable email is not even looked up.
    response = await _login_raw(caller, b'{"email": "\\ud800@example.com", "password": "x"}')
    await assert_error(response, 400, "BAD_REQUEST")
    await assert_nothing_stored(caller)


CONTROL_CHARACTERS = ["\u0000", "\u0001", "\u0007", "\b", "\n", "\r", "\t", "\u001b", "\u007f"]
CONTROL_CHARACTERS += ["\u0085", "\u009f"]  # C1 controls


async def test_control_characters_in_name_and_email_are_422(caller: Account) -> None:
    for char in CONTROL_CHARACTERS:
        name = f"Al{char}ice"
        email = f"ctl{char}x@example.com"
        for field, body in (("name", new_user(name=name)), ("email", new_user(email=email))):
            response = await caller.client.post("/api/users", json=body)
            details = await assert_error(response, 422, "VALIDATION_ERROR")
            assert field in details, (field, repr(char))
            change = {field: body[field]}
            patched = await caller.client.patch(caller.url, json=change, headers=caller.headers())
            assert field in await assert_error(patched, 422, "VALIDATION_ERROR")
            put = await caller.client.put(
                caller.url, json={**caller.user, **change}, headers=caller.headers()
            )
            assert field in await assert_error(put, 422, "VALIDATION_ERROR")
    await assert_nothing_stored(caller)


async def test_nul_in_login_is_a_plain_401(caller: Account) -> None:
    for email in ("nul\u0000@example.com", caller.user["email"] + "\u0000"):
        response = await caller.client.post(
            "/api/tokens", json={"email": email, "password": PASSWORD}
        )
        await assert_error(response, 401, "UNAUTHORIZED")
    response = await caller.client.post(
        "/api/tokens", json={"email": caller.user["email"], "password": PASSWORD + "\u0000"}
    )
    await assert_error(response, 401, "UNAUTHORIZED")


async def test_control_characters_in_the_search_query_are_refused(caller: Account) -> None:
    for raw in ("%00", "a%00b", "%07", "%1b"):
        response = await caller.client.get(f"/api/users?q={raw}", headers=caller.headers())
        details = await assert_error(response, 422, "VALIDATION_ERROR")
        assert "q" in details, raw


# --- huge bodies -----------------------------------------------------------------------------


async def test_body_over_one_mib_is_413(caller: Account) -> None:
    huge = json.dumps(new_user(name="x" * ONE_MIB)).encode()
    assert len(huge) > ONE_MIB
    for send in SENDERS.values():
        await assert_error(await send(caller, huge), 413, "PAYLOAD_TOO_LARGE")
    padded = b" " * ONE_MIB + b"{}"
    await assert_error(await _register_raw(caller, padded), 413, "PAYLOAD_TOO_LARGE")
    await assert_nothing_stored(caller)


async def test_body_of_exactly_one_mib_is_not_413(caller: Account) -> None:
    body = json.dumps(new_user()).encode()
    exact = body + b" " * (ONE_MIB - len(body))
    assert len(exact) == ONE_MIB
    response = await _register_raw(caller, exact)
    assert response.status_code == 201
    assert await total_users(caller.client, caller.token) == 2


async def test_a_smaller_configured_limit(settings: Settings) -> None:
    limit = 150
    async with serving(settings, max_content_length=limit) as app:
        client = app.test_client()
        fits = json.dumps(new_user()).encode()
        assert len(fits) <= limit
        created = await client.post("/api/users", data=fits, headers=JSON)
        assert created.status_code == 201
        token = await login(client, (await body_of(created))["data"]["email"])
        exact = json.dumps(new_user()).encode()
        exact += b" " * (limit - len(exact))
        assert len(exact) == limit
        assert (await client.post("/api/users", data=exact, headers=JSON)).status_code == 201

        too_big = json.dumps(new_user(name="y" * 100)).encode()
        assert limit < len(too_big) < ONE_MIB
        await assert_error(
            await client.post("/api/users", data=too_big, headers=JSON), 413, "PAYLOAD_TOO_LARGE"
        )
        padded = fits + b" " * (limit + 1 - len(fits))
        await assert_error(
            await client.post("/api/users", data=padded, headers=JSON), 413, "PAYLOAD_TOO_LARGE"
        )
        listed = await client.get("/api/users", headers=bearer(token))
        assert (await body_of(listed))["meta"]["total"] == 2


# --- huge numbers ----------------------------------------------------------------------------


async def test_huge_ids_in_the_path_are_404(caller: Account) -> None:
    huge = ("99999999999999999999999", "9223372036854775808", "1" + "0" * 400, "9" * 5000)
    for user_id in (*huge, "0", "00"):
        url = f"/api/users/{user_id}"
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            response = await caller.client.open(
                url, method=method, headers=caller.headers(), json={}
            )
            await assert_error(response, 404, "NOT_FOUND")
    # The largest id the service knows is a valid route, with no user behind it.
    for method in ("GET", "PATCH", "DELETE"):
        response = await caller.client.open(
            "/api/users/9223372036854775807", method=method, headers=caller.headers(), json={}
        )
        details = await assert_error(response, 404, "NOT_FOUND")
        assert details == {}
    await assert_nothing_stored(caller)


BAD_QUERIES = [
    ("page", "99999999999999999999"),
    ("page", str(10**30)),
    ("per_page", str(10**30)),
    ("per_page", "99999999999999999999"),
    ("page", "0"),
    ("page", "-1"),
    ("page", "1.5"),
    ("page", "1e3"),
    ("page", "abc"),
    ("page", ""),
    ("per_page", "0"),
    ("per_page", "101"),
    ("per_page", "-5"),
    ("sort", "password_hash"),
    ("sort", "id;DROP TABLE users"),
    ("role", "superuser"),
]


async def test_malformed_query_parameters_are_422_naming_them(caller: Account) -> None:
    for parameter, value in BAD_QUERIES:
        response = await caller.client.get(
            "/api/users", query_string={parameter: value}, headers=caller.headers()
        )
        details = await assert_error(response, 422, "VALIDATION_ERROR")
        assert parameter in details, (parameter, value, details)


BAD_VALUES: list[object] = [
    10**30,
    -(10**30),
    123,
    1.5,
    1e300,
    True,
    False,
    None,
    [],
    ["x"],
    {},
    {"nested": {"deeper": "value"}},
]


@pytest.mark.parametrize("field", ["name", "email", "password", "role"])
async def test_wrong_types_are_422_naming_the_field(app: Quart, client: Client, field: str) -> None:
    # An admin, who may set `role`: for anyone else a `role` other than their own is 403 first.
    admin, token = await admin_with_token(app, client)
    caller = Account(client, admin, token)
    for value in BAD_VALUES:
        body = new_user(**{field: value})
        response = await caller.client.post("/api/users", json=body, headers=caller.headers())
        details = await assert_error(response, 422, "VALIDATION_ERROR")
        assert field in details, (field, value, details)

        patched = await caller.client.patch(
            caller.url, json={field: value}, headers=caller.headers()
        )
        assert field in await assert_error(patched, 422, "VALIDATION_ERROR")

        put = await caller.client.put(
            caller.url,
            json={"name": "Alice", "email": caller.user["email"], field: value},
            headers=caller.headers(),
        )
        assert field in await assert_error(put, 422, "VALIDATION_ERROR")

        if field in ("email", "password"):
            login = {"email": caller.user["email"], "password": PASSWORD, field: value}
            response = await caller.client.post("/api/tokens", json=login)
            assert field in await assert_error(response, 422, "VALIDATION_ERROR")
    await assert_nothing_stored(caller)


async def test_unknown_fields_are_422_naming_them(caller: Account) -> None:
    extras = {"is_admin": True, "password_hash": "x", "__proto__": {"role": "admin"}, "Name": "B"}
    response = await caller.client.post("/api/users", json={**new_user(), **extras})
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert set(extras) <= set(details)
    assert "name" not in details

    patched = await caller.client.patch(caller.url, json=extras, headers=caller.headers())
    assert set(extras) <= set(await assert_error(patched, 422, "VALIDATION_ERROR"))

    put = await caller.client.put(
        caller.url, json={**caller.user, "nickname": "Al"}, headers=caller.headers()
    )
    assert "nickname" in await assert_error(put, 422, "VALIDATION_ERROR")

    login = await caller.client.post(
        "/api/tokens",
        json={"email": caller.user["email"], "password": PASSWORD, "remember_me": True},
    )
    assert "remember_me" in await assert_error(login, 422, "VALIDATION_ERROR")
    await assert_nothing_stored(caller)


async def test_a_password_is_never_echoed_in_an_error(caller: Account) -> None:
    secret = "Zebra-Kumquat-7731-"
    too_long = secret * 8  # 152 characters: over the 128 limit
    too_short = "Zk9-77!"
    attempts: list[Response] = []
    for password in (too_long, too_short):
        attempts.append(await caller.client.post("/api/users", json=new_user(password=password)))
        attempts.append(
            await caller.client.patch(
                caller.url, json={"password": password}, headers=caller.headers()
            )
        )
    # Failing for another reason, with the password alongside.
    attempts.append(
        await caller.client.post("/api/users", json=new_user(password=too_long, name=""))
    )
    attempts.append(
        await caller.client.post(
            "/api/users", json={**new_user(password=[too_long]), "extra": too_long}
        )
    )
    attempts.append(
        await caller.client.post(
            "/api/tokens", json={"email": caller.user["email"], "password": too_long, "x": 1}
        )
    )
    attempts.append(
        await caller.client.post(
            "/api/tokens", json={"email": caller.user["email"], "password": too_long}
        )
    )
    truncated = f'{{"email": "a@example.com", "password": "{too_long}"'.encode()
    attempts.append(await _register_raw(caller, truncated))
    attempts.append(await _login_raw(caller, truncated))
    for response in attempts:
        assert 400 <= response.status_code < 500
        raw = await response.get_data(as_text=True)
        assert secret not in raw
        assert too_short not in raw
        assert "Zebra" not in raw
    await assert_nothing_stored(caller)


# --- stored literally ------------------------------------------------------------------------

LITERAL_NAMES = [
    "Robert'); DROP TABLE users;--",
    "' OR '1'='1",
    '"; DELETE FROM users; --',
    "%",
    "_",
    "\\",
    "100% _sure_ \\o/",
    "${jndi:ldap://127.0.0.1/x}",
    "<script>alert(1)</script>",
    "Zoë 👩‍💻🎉",
    "مرحبا بالعالم",
    "שלום עולם",
    "\u202eevil\u202c",
    "e\u0301 a\u0308 n\u0303",  # combining marks, not normalised
    "Ǆ ﬁ Ⅻ ß",
    "中文名字",
]


async def test_odd_names_are_stored_and_read_back_literally(caller: Account) -> None:
    created: dict[str, int] = {}
    for name in LITERAL_NAMES:
        user = await register(caller.client, name=name)
        assert user["name"] == name
        created[name] = user["id"]
    for name, user_id in created.items():
        response = await caller.client.get(f"/api/users/{user_id}", headers=caller.headers())
        assert (await body_of(response))["data"]["name"] == name
    assert await total_users(caller.client, caller.token) == 1 + len(LITERAL_NAMES)
    # The users table survived, and a name the service changes through PATCH is kept exactly.
    patched = await caller.client.patch(
        caller.url, json={"name": LITERAL_NAMES[0]}, headers=caller.headers()
    )
    assert (await body_of(patched))["data"]["name"] == LITERAL_NAMES[0]
    assert (await stored_self(caller))["name"] == LITERAL_NAMES[0]


async def test_search_wildcards_match_literally(caller: Account) -> None:
    for name in ("100% sure", "snake_case", "back\\slash", "plain"):
        await register(caller.client, name=name)

    async def found(q: str) -> list[str]:
        response = await caller.client.get(
            "/api/users", query_string={"q": q}, headers=caller.headers()
        )
        assert response.status_code == 200
        return [user["name"] for user in (await body_of(response))["data"]]

    assert await found("%") == ["100% sure"]
    assert await found("_") == ["snake_case"]
    assert await found("\\") == ["back\\slash"]
    assert await found("e_c") == ["snake_case"]
    assert await found("' OR '1'='1") == []


@pytest.mark.parametrize(
    "unit", ["a", "é", "中", "😀", "e\u0301"], ids=["ascii", "latin", "cjk", "emoji", "combining"]
)
async def test_name_length_is_counted_in_code_points(caller: Account, unit: str) -> None:
    count = 100 // len(unit)
    longest = unit * count
    assert len(longest) == 100
    user = await register(caller.client, name=longest)
    assert user["name"] == longest
    response = await caller.client.get(f"/api/users/{user['id']}", headers=caller.headers())
    assert (await body_of(response))["data"]["name"] == longest
    # Surrounding whitespace does not count.
    padded = await register(caller.client, name=f"  {longest}\t ")
    assert padded["name"] == longest

    too_long = longest + "x"
    assert len(too_long) == 101
    response = await caller.client.post("/api/users", json=new_user(name=too_long))
    assert "name" in await assert_error(response, 422, "VALIDATION_ERROR")
    patched = await caller.client.patch(
        caller.url, json={"name": too_long}, headers=caller.headers()
    )
    assert "name" in await assert_error(patched, 422, "VALIDATION_ERROR")
    assert await total_users(caller.client, caller.token) == 3
    assert (await stored_self(caller))["name"] == caller.user["name"]


def email_of_length(length: int, tag: str) -> str:
    """A well-formed address of exactly `length` characters: 64-char local part, short labels."""
    local = (tag + "l" * 64)[:64]
    labels: list[str] = []
    remaining = length - len(local) - 1 - len(".com")
    while remaining > 0:
        size = min(63, remaining)
        if remaining - size == 1:  # a label needs a dot and at least one character
            size -= 2
        labels.append("d" * size)
        remaining -= size + 1
    email = f"{local}@{'.'.join(labels)}.com"
    assert len(email) == length, (len(email), length)
    return email


async def test_email_length_limit(caller: Account) -> None:
    longest = email_of_length(254, "a")
    user = await register(caller.client, email=longest)
    assert user["email"] == longest
    # Trimmed and lower-cased before the length is checked.
    other = email_of_length(254, "b")
    shouted = await register(caller.client, email=f"  {other.upper()}  ")
    assert shouted["email"] == other

    too_long = email_of_length(255, "c")
    response = await caller.client.post("/api/users", json=new_user(email=too_long))
    assert "email" in await assert_error(response, 422, "VALIDATION_ERROR")
    patched = await caller.client.patch(
        caller.url, json={"email": too_long}, headers=caller.headers()
    )
    assert "email" in await assert_error(patched, 422, "VALIDATION_ERROR")
    assert await total_users(caller.client, caller.token) == 3
    assert (await stored_self(caller))["email"] == caller.user["email"]

    token = await caller.client.post("/api/tokens", json={"email": longest, "password": PASSWORD})
    assert token.status_code == 201


# --- hostile headers -------------------------------------------------------------------------

GARBAGE_AUTHORIZATION = [
    "Bearer " + "a" * 100_000,
    "Bearer " + "A" * 8192 + "." + "b" * 8192,
    "Bearer",
    "Bearer ",
    "Bearer a b",
    "Bearer ' OR '1'='1",
    "Bearer %00",
    "Bearer ../../etc/passwd",
    "Bearer\tabc",
    "Token abc",
    "abc",
    "Bearer=abc",
]


async def test_garbage_authorization_is_401(caller: Account) -> None:
    for header in GARBAGE_AUTHORIZATION:
        for method, url in (("GET", "/api/profile"), ("PATCH", caller.url), ("GET", "/api/users")):
            response = await caller.client.open(
                url, method=method, headers={"Authorization": header}, json={"name": "Hacked"}
            )
            details = await assert_error(response, 401, "UNAUTHORIZED")
            assert details == {}
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), header
    await assert_nothing_stored(caller)


async def test_basic_authorization_is_401_with_a_bearer_challenge(caller: Account) -> None:
    # Even with the right credentials: only bearer tokens are accepted.
    credentials = base64.b64encode(f"{caller.user['email']}:{PASSWORD}".encode()).decode()
    for url in ("/api/profile", "/api/users", caller.url):
        response = await caller.client.get(url, headers={"Authorization": f"Basic {credentials}"})
        await assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


NOT_HOST_NAMES = ["a..b", "x" * 64 + ".example", ".example:8000", "example..com:443"]
HOST_NAMES = ["127.0.0.1:8000", "EXAMPLE.com:80", "bücher.example", "[::1]:8000", "a.b.example"]


async def test_a_host_that_is_no_host_name_is_400_naming_it(caller: Account) -> None:
    """An empty or over-long label in `Host` once failed while the request was being set up,
    before any error handler: hypercorn answered a bare 500."""
    for host in NOT_HOST_NAMES:
        for method, url in (("GET", "/health"), ("PATCH", caller.url), ("GET", "/nowhere")):
            response = await caller.client.open(
                url, method=method, headers=caller.headers({"Host": host}), json={"name": "Hacked"}
            )
            details = await assert_error(response, 400, "BAD_REQUEST")
            assert details == {"Host": NOT_A_HOST}, host
    await assert_nothing_stored(caller)


async def test_hosts_that_are_names_are_served(caller: Account) -> None:
    for host in HOST_NAMES:
        response = await caller.client.get(caller.url, headers=caller.headers({"Host": host}))
        assert response.status_code == 200, host
        assert (await body_of(response))["data"] == caller.user


# --- bodies built to be expensive ----------------------------------------------------------


async def test_a_megabyte_of_unknown_keys_gets_a_short_error(caller: Account) -> None:
    """Every key is unknown; the error names a few and counts the rest, instead of listing
    tens of thousands (a 2 MB error, half a second of CPU each)."""
    keys = {f"k{index:06d}": 0 for index in range(60_000)}
    body = json.dumps({**new_user(), **keys}).encode()
    assert ONE_MIB // 2 < len(body) < ONE_MIB
    for name, send in SENDERS.items():
        response = await send(caller, body)
        details = await assert_error(response, 422, "VALIDATION_ERROR")
        assert len(details) == 20, name
        assert "k000000" in details, name
        assert "more problems not listed" in details["body"], name
        assert len(await response.get_data()) < 2_000, name
    await assert_nothing_stored(caller)


async def test_many_wrong_fields_are_capped_too(caller: Account) -> None:
    body = {f"f{index}": index for index in range(40)}
    response = await caller.client.post("/api/users", json=body)
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert len(details) == 20
    assert details["body"].endswith("more problems not listed")


@pytest.mark.parametrize("depth", [100, 300, 1000])
@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "idempotency-key"])
async def test_deeply_nested_bodies_are_422_with_or_without_an_idempotency_key(
    caller: Account, depth: int, with_key: bool
) -> None:
    nested = "[" * depth + "]" * depth
    body = f'{{"name": "N", "email": "{unique_email()}", "password": "{PASSWORD}", "x": {nested}}}'
    headers = {**JSON, "Idempotency-Key": f"deep-{depth}"} if with_key else JSON
    response = await caller.client.post("/api/users", data=body.encode(), headers=headers)
    await assert_error(response, 422, "VALIDATION_ERROR")
    await assert_nothing_stored(caller)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("updated_at", 0),
        ("updated_at", 1_700_000_000.5),
        ("created_at", "2026-01-01"),
        ("created_at", "1700000000"),
        ("id", "5"),
        ("id", True),
        ("id", 1.0),
    ],
)
async def test_read_only_fields_must_have_their_documented_type(
    caller: Account, field: str, value: Any
) -> None:
    """Read-only fields are ignored when sent back as GET returned them, and refused (422)
    when they are not what /openapi.json says they are: an RFC 3339 string, an integer."""
    response = await caller.client.patch(caller.url, json={field: value}, headers=caller.headers())
    assert field in await assert_error(response, 422, "VALIDATION_ERROR")
    echoed = await caller.client.patch(
        caller.url, json={field: caller.user[field]}, headers=caller.headers()
    )
    assert echoed.status_code == 200
    await assert_nothing_stored(caller)
