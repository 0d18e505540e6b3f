"""Emails are one address however they are spelled (docs/API.md §3, v1.1): NFC-normalised and
Unicode case-folded before they are stored or compared; invisible format characters → 422."""

from __future__ import annotations

import unicodedata

import pytest

from roster.schemas import is_invisible, normalize_email

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


INVISIBLE = {
    "zero-width-space": "\u200b",
    "soft-hyphen": "\u00ad",
    "right-to-left-override": "\u202e",
    "word-joiner": "\u2060",
    "bom": "\ufeff",
    "zwj": "\u200d",
    # Default-ignorable but not format characters (category Mn, Lo, So…): invisible all the same.
    "combining-grapheme-joiner": "\u034f",
    "hangul-filler": "\u3164",
    "hangul-choseong-filler": "\u115f",
    "mongolian-variation-selector": "\u180b",
    "variation-selector-16": "\ufe0f",
    "halfwidth-hangul-filler": "\uffa0",
    "braille-blank": "\u2800",
    "tag-space": "\U000e0020",
}


@pytest.mark.parametrize("invisible", INVISIBLE.values(), ids=INVISIBLE.keys())
async def test_invisible_characters_are_refused(client: Client, invisible: str) -> None:
    """With alice@example.com registered, alice<invisible>@example.com would be a second
    account that looks the same (docs/API.md §3)."""
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


def test_every_default_ignorable_code_point_is_refused() -> None:
    """Unicode's Default_Ignorable_Code_Point, whole (DerivedCoreProperties.txt, 15.1)."""
    ranges = [
        (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
        (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
        (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
        (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
        (0xE0000, 0xE0FFF),
    ]  # fmt: skip
    for first, last in ranges:
        for code_point in range(first, last + 1):
            assert is_invisible(chr(code_point)), hex(code_point)
    assert not any(is_invisible(char) for char in "aé€@.-_+ßΣ中")
