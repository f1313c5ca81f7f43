"""Every error code of the contract, through the gateway, each with a JSON `detail`."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.clients import ITEMS, Stack, User, register_and_login


def _detail(response: httpx.Response) -> object:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()["detail"]


def test_auth_codes(stack: Stack, http: httpx.Client, alice: User) -> None:
    gw = stack.gateway
    taken = http.post(
        f"{gw}/register/", json={"email": alice.email.upper(), "password": "long enough pw"}
    )
    assert taken.status_code == 409 and _detail(taken)
    for body in (
        {"email": "not-an-email", "password": "long enough pw"},
        {"email": f"x-{uuid.uuid4().hex[:6]}@example.com", "password": "7 bytes"},
        {"email": f"x-{uuid.uuid4().hex[:6]}@example.com", "password": "p" * 73},
    ):
        response = http.post(f"{gw}/register/", json=body)
        assert response.status_code == 422 and _detail(response)

    wrong = http.post(f"{gw}/token/", data={"username": alice.email, "password": "wrong pw!"})
    assert wrong.status_code == 401 and _detail(wrong)
    assert wrong.headers["www-authenticate"] == "Bearer"
    missing = http.post(f"{gw}/token/", data={"username": alice.email})
    assert missing.status_code == 422

    assert http.get(f"{gw}/users/me/").status_code == 401
    bad = http.get(f"{gw}/users/me/", headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401 and _detail(bad)


def test_token_rate_limit_counts_the_real_client(stack: Stack, http: httpx.Client) -> None:
    email = f"limited-{uuid.uuid4().hex[:8]}@example.com"
    codes = [
        http.post(
            f"{stack.gateway}/token/", data={"username": email, "password": "wrong pw!"}
        ).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    limited = http.post(f"{stack.gateway}/token/", data={"username": email, "password": "x" * 9})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    # Another client (as the gateway reports it) has its own budget: X-Forwarded-For from the
    # caller is overwritten by the gateway, so it cannot borrow one.
    spoofed = http.post(
        f"{stack.gateway}/token/",
        data={"username": email, "password": "wrong pw!"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert spoofed.status_code == 429
    # Nor by calling auth-service directly: only the gateway's address is a trusted proxy.
    direct = http.post(
        f"{stack.url('AUTH')}/token/",
        data={"username": email, "password": "wrong pw!"},
        headers={"X-Forwarded-For": "203.0.113.10"},
    )
    assert direct.status_code == 429


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": [{"quantity": 1, "price": 1}]},
        {"items": [{"name": "x", "quantity": 0, "price": 1}]},
        {"items": [{"name": "x", "quantity": 1, "price": "0"}]},
        {"items": [{"name": "x", "quantity": 1, "price": "1.001"}]},
        {"items": [{"name": "x", "quantity": 1, "price": 1, "colour": "red"}]},
        {"items": [{"name": "x", "quantity": 1, "price": 1}], "total_price": 2},
    ],
)
def test_orders_invalid_bodies_are_422(
    stack: Stack, http: httpx.Client, alice: User, body: dict[str, object]
) -> None:
    response = http.post(f"{stack.gateway}/orders/", json=body, headers=alice.auth)
    assert response.status_code == 422, response.text


def test_orders_codes(stack: Stack, http: httpx.Client, alice: User, bob: User) -> None:
    gw = stack.gateway
    assert http.post(f"{gw}/orders/", json={"items": ITEMS}).status_code == 401
    order = http.post(f"{gw}/orders/", json={"items": ITEMS}, headers=alice.auth).json()
    url = f"{gw}/orders/{order['id']}/"
    assert http.get(f"{gw}/orders/not-a-uuid/", headers=alice.auth).status_code == 422
    missing = http.get(f"{gw}/orders/{uuid.uuid4()}/", headers=alice.auth)
    assert missing.status_code == 404 and _detail(missing)
    assert http.get(url, headers=bob.auth).status_code == 403
    assert http.patch(url, json={"status": "LOST"}, headers=alice.auth).status_code == 422
    assert http.patch(url, json={"status": "CANCELED"}, headers=alice.auth).status_code == 200
    assert http.patch(url, json={"status": "CANCELED"}, headers=alice.auth).status_code == 200
    conflict = http.patch(url, json={"status": "PAID"}, headers=alice.auth)
    assert conflict.status_code == 409 and _detail(conflict)
    for query in ("limit=0", "limit=101", "offset=-1"):
        listed = http.get(f"{gw}/orders/user/{alice.id}/?{query}", headers=alice.auth)
        assert listed.status_code == 422


def test_orders_rate_limit_is_per_user_with_retry_after(stack: Stack, http: httpx.Client) -> None:
    carol = register_and_login(stack, http, "carol")
    url = f"{stack.gateway}/orders/user/{carol.id}/"
    codes = [http.get(url, headers=carol.auth).status_code for _ in range(125)]
    assert codes.count(200) == 120 and codes[-1] == 429
    limited = http.get(url, headers=carol.auth)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    # other users are not affected
    dave = register_and_login(stack, http, "dave")
    assert http.get(f"{stack.gateway}/orders/user/{dave.id}/", headers=dave.auth).status_code == 200


def test_request_body_over_the_gateway_limit_is_413(
    stack: Stack, http: httpx.Client, alice: User
) -> None:
    huge = {"items": [{"name": "x" * 200, "quantity": 1, "price": 1}] * 1000}
    response = http.post(f"{stack.gateway}/orders/", json=huge, headers=alice.auth)
    assert response.status_code == 413


def test_cors_preflight_only_for_allowed_origins(stack: Stack, http: httpx.Client) -> None:
    allowed = stack.env.get("ORDERS_CORS_ORIGINS", '["http://localhost:3000"]')
    origin = allowed.strip('[]"').split('","')[0]
    for origin_, expect in ((origin, origin), ("https://evil.example", None)):
        response = http.options(
            f"{stack.gateway}/orders/",
            headers={
                "Origin": origin_,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert response.headers.get("access-control-allow-origin") == expect


def test_paths_without_the_trailing_slash_keep_method_and_body(
    stack: Stack, http: httpx.Client, alice: User
) -> None:
    response = http.post(f"{stack.gateway}/orders", json={"items": ITEMS}, headers=alice.auth)
    assert response.status_code == 307  # answered by the service: a client repeats the POST
    assert response.headers["location"].endswith("/orders/")


def test_gateway_refusals_are_json(stack: Stack, http: httpx.Client) -> None:
    traced = http.request("TRACE", f"{stack.gateway}/orders/")
    assert traced.status_code == 405 and _detail(traced)
    big_header = http.get(f"{stack.gateway}/orders/", headers={"X-Big": "a" * 9000})
    assert big_header.status_code == 400 and _detail(big_header)


def test_head_works_where_get_does(stack: Stack, http: httpx.Client) -> None:
    for url in (f"{stack.gateway}/.well-known/jwks.json", f"{stack.url('ORDERS')}/health/live"):
        response = http.head(url)
        assert response.status_code == 200, url
        assert response.content == b""
