"""Swagger UI works with no internet access: its assets are served by the service."""

from __future__ import annotations

import httpx


async def test_docs_are_served_from_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in page.text
    assert (await client.get("/docs-assets/swagger-ui-bundle.js")).status_code == 200
