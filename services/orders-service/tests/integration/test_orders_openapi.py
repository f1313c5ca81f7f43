"""The OpenAPI document of the orders API."""

from __future__ import annotations

import httpx


class TestOpenApi:
    """The document lists each endpoint's codes and the Bearer scheme."""

    async def test_openapi_documents_the_codes_and_the_bearer_scheme(
        self,
        client: httpx.AsyncClient,
    ) -> None:
        schema = (await client.get("/openapi.json")).json()
        paths = schema["paths"]
        assert set(paths["/orders/"]["post"]["responses"]) >= {"201", "401", "422", "429"}
        assert set(paths["/orders/{order_id}/"]["get"]["responses"]) >= {
            "200",
            "401",
            "403",
            "404",
            "422",
        }
        assert set(paths["/orders/{order_id}/"]["patch"]["responses"]) >= {
            "200",
            "401",
            "403",
            "404",
            "409",
            "422",
        }
        assert set(paths["/orders/user/{user_id}/"]["get"]["responses"]) >= {"200", "401", "403"}
        scheme = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]
        assert scheme["flows"]["password"]["tokenUrl"] == "/token/"
        assert "9 999 999 999.99" in paths["/orders/"]["post"]["description"]
