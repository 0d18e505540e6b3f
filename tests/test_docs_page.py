"""/docs in a real browser (headless Chromium): the page renders in standards mode, shows every
operation of /openapi.json, and "Try it out" sends the headers the document declares."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from .server import Server, TemplateLike, fresh_database_url, run_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (.ci/run installs it)"),
]


@pytest.fixture(scope="module")
def server(template: TemplateLike, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("docs")
    with run_server(fresh_database_url(template, directory), log_dir=directory) as running:
        yield running


@pytest.fixture
async def page(server: Server) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            tab = await browser.new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            await tab.goto(f"{server.base_url}/docs")
            yield tab
        finally:
            await browser.close()


async def test_the_page_renders_every_operation_in_standards_mode(
    page: Any, server: Server
) -> None:
    assert await page.evaluate("document.compatMode") == "CSS1Compat"
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        document = (await http.get("/openapi.json")).json()
    operation_ids = [
        (operation["tags"][0], operation["operationId"])
        for item in document["paths"].values()
        for operation in item.values()
    ]
    for tag, operation_id in operation_ids:
        await page.wait_for_selector(f"#operations-{tag}-{operation_id}", state="attached")
    # Public registration shows no lock; an operation that needs a token does.
    register = page.locator("#operations-users-register_user")
    assert await register.locator(".authorization__btn").count() == 0
    profile = page.locator("#operations-tokens-get_profile")
    assert await profile.locator(".authorization__btn").count() == 1


async def test_try_it_out_sends_if_match(page: Any) -> None:
    sent: list[dict[str, str]] = []
    page.on(
        "request",
        lambda request: sent.append(request.headers) if "/api/users/" in request.url else None,
    )
    operation = page.locator("#operations-users-update_user")
    await operation.locator(".opblock-summary").click()
    await operation.locator(".try-out__btn").click()
    await operation.locator('tr[data-param-name="user_id"] input').fill("1")
    await operation.locator('tr[data-param-name="If-Match"] input').fill('"an-etag"')
    await operation.locator(".body-param__text").fill('{"name": "Tried"}')
    await operation.locator(".execute").click()
    await operation.locator(".live-responses-table").wait_for()
    assert sent, "the page sent the request"
    assert sent[-1].get("if-match") == '"an-etag"'
