"""Emails are one address however they are spelled (docs/API.md §3, v1.1): NFC-normalised and
Unicode case-folded before they are stored or compared; invisible format characters → 422."""

from __future__ import annotations

import unicodedata

import pytest

from roster.schemas import normalize_email

from .helpers import PASSWORD, Client, assert_error, body_of, login, register, unique_email

SPELLINGS_OF_ONE_ADDRESS = [
    pytest.param(["ΟΔΟΣ@example.gr", "οδος@example.gr", "οδοσ@example.gr"], id="greek-sigma"),
    pytest.param(
        [
            unicodedata.normalize("NFC", "café@example.fr"),
            unicodedata.normalize("NFD", "café@example.fr"),
        ],
        id="composed-and-decomposed",
    ),
    pytest.param(["STRASSE@example.de", "straße@example.de"], id="sharp-s"),
    pytest.param(["Ǆemal@example.ba", "ǆemal@example.ba", "ǅemal@example.ba"], id="digraph"),
]


@pytest.mark.parametrize("spellings", SPELLINGS_OF_ONE_ADDRESS)
async def test_spellings_of_one_address_are_one_account(
    client: Client, spellings: list[str]
) -> None:
    first, *others = spellings
    user = await register(client, email=first)
    assert user["email"] == normalize_email(first)
    for other in others:
        body = {"name": "Twin", "email": other, "password": PASSWORD}
        response = await client.post("/api/users", json=body)
        details = await assert_error(response, 409, "CONFLICT")
        assert details == {"email": "Already registered"}
        assert await login(client, other)  # and each spelling logs in to that one account


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u00ad", "\u202e", "\u2060", "\ufeff", "\u200d"],
    ids=["zero-width-space", "soft-hyphen", "right-to-left-override", "word-joiner", "bom", "zwj"],
)
async def test_format_characters_are_refused(client: Client, invisible: str) -> None:
    email = unique_email().replace("@", f"{invisible}@")
    response = await client.post(
        "/api/users", json={"name": "I", "email": email, "password": PASSWORD}
    )
    details = await assert_error(response, 422, "VALIDATION_ERROR")
    assert "email" in details

    user = await register(client)
    token = await login(client, user["email"])
    spoofed = user["email"].replace("@", f"{invisible}@")
    patched = await client.patch(
        f"/api/users/{user['id']}",
        json={"email": spoofed},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert "email" in await assert_error(patched, 422, "VALIDATION_ERROR")


async def test_the_stored_form_is_what_a_read_returns(client: Client) -> None:
    user = await register(client, email="  ÀLICE.Ⅻ@Example.COM ")
    token = await login(client, "àlice.ⅻ@example.com")
    response = await client.get(
        f"/api/users/{user['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert (await body_of(response))["data"]["email"] == "àlice.ⅻ@example.com"


def test_normalising_twice_changes_nothing() -> None:
    for code_point in range(0x20, 0x30000):
        if 0xD800 <= code_point <= 0xDFFF:
            continue
        once = normalize_email(f"a{chr(code_point)}b@example.com")
        assert normalize_email(once) == once, hex(code_point)
