"""Swagger UI in a real headless browser, with no internet: authorize, then create an order."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.clients import ITEMS, ROOT, Stack, User

CHROMIUM = os.environ.get("E2E_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS", ROOT / "artifacts"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="chromium is not installed (infra/native/install.sh)"
)


@pytest.mark.parametrize("service", ["AUTH", "ORDERS", "PROCESSOR"])
def test_docs_use_only_assets_served_by_the_service(
    stack: Stack, http: httpx.Client, service: str
) -> None:
    page = http.get(f"{stack.url(service)}/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in page.text
        assert http.get(f"{stack.url(service)}{asset}").status_code == 200


def test_authorize_and_create_an_order_from_swagger_ui(stack: Stack, alice: User) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "swagger-orders.png"
    requests_outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.on(
                "request",
                lambda r: (
                    requests_outside.append(r.url)
                    if not r.url.startswith(("http://127.0.0.1", "http://localhost", "data:"))
                    else None
                ),
            )
            page.goto(f"{stack.gateway}/docs")
            page.wait_for_selector(".swagger-ui .info", timeout=20_000)

            page.click(".auth-wrapper button.authorize")
            page.fill("#oauth_username", alice.email)
            page.fill("#oauth_password", alice.password)
            page.click(".auth-btn-wrapper button.authorize")
            page.wait_for_selector(".auth-btn-wrapper button:has-text('Logout')", timeout=15_000)
            page.click(".auth-btn-wrapper button.btn-done")

            operation = page.locator(".opblock-post", has_text="/orders/").first
            operation.locator(".opblock-summary").click()
            operation.locator(".try-out__btn").click()
            operation.locator("textarea.body-param__text").fill(json.dumps({"items": ITEMS}))
            operation.locator("button.execute").click()
            status = operation.locator(".live-responses-table tbody .response-col_status").first
            status.wait_for(timeout=15_000)
            code = status.inner_text().strip()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert code == "201"
    assert shot.stat().st_size > 10_000
    assert requests_outside == []  # nothing fetched from the internet
