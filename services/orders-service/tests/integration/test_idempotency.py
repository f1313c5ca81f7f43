"""POST /orders/ with an `Idempotency-Key`, against real PostgreSQL: a repeat answers the first
response again and creates nothing, whether it comes after the first, during it, or after a
failed first attempt; keys are per user, validated, and expire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from tests.support import Auth, eventually_async, item

ALICE, BOB = 701, 702
BODY = {"items": [item(quantity=2, price="9.99")]}
OTHER_BODY = {"items": [item(quantity=3, price="9.99")]}


async def post(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    key: str | bytes | None,
    body: dict[str, Any] = BODY,
) -> httpx.Response:
    if key is not None:
        headers = {**headers, "Idempotency-Key": key}  # type: ignore[dict-item]
    return await client.post("/orders/", json=body, headers=headers)


async def counts(app: FastAPI, user_id: int) -> dict[str, int]:
    """The user's rows in each table: orders, their outbox events, their keys."""
    queries = {
        "orders": "SELECT count(*) FROM orders WHERE user_id = :u",
        "outbox": "SELECT count(*) FROM outbox WHERE (payload->'data'->>'user_id')::bigint = :u",
        "keys": "SELECT count(*) FROM idempotency_keys WHERE user_id = :u",
    }
    async with app.state.sessionmaker() as session:
        return {
            table: int((await session.execute(text(sql), {"u": user_id})).scalar_one())
            for table, sql in queries.items()
        }


async def app_scalar(app: FastAPI, sql: str) -> int:
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar_one())


def replays(metrics: str, outcome: str) -> float:
    prefix = f'orders_idempotent_replays_total{{outcome="{outcome}"}} '
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


@pytest.fixture
async def outsider(database_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection of the test's own, beside the app's pool."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    async with engine.connect() as conn:
        yield conn
    await engine.dispose()


class TestRepeat:
    """A repeat with the same key and body is the first answer again, and creates nothing."""

    async def test_a_repeat_answers_the_first_response_and_creates_nothing(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        first = await post(client, auth(ALICE), "order-1")
        assert first.status_code == 201, first.text

        again = await post(client, auth(ALICE), "order-1")

        assert again.status_code == 201
        assert again.content == first.content  # byte for byte: the same order id and times
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["location"] == first.headers["location"]
        assert again.headers["location"] == f"/orders/{first.json()['id']}/"
        assert await counts(app, ALICE) == {"orders": 1, "outbox": 1, "keys": 1}

    async def test_a_body_that_validates_to_the_same_order_is_the_same_request(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        written = {"items": [{"quantity": 2, "price": "9.99", "name": "Widget"}]}
        spelled_otherwise = {"items": [{"name": "Widget", "price": 9.990, "quantity": 2}]}
        first = await post(client, auth(ALICE), "order-1", written)

        again = await post(client, auth(ALICE), "order-1", spelled_otherwise)

        assert again.status_code == 201
        assert again.json() == first.json()
        assert await counts(app, ALICE) == {"orders": 1, "outbox": 1, "keys": 1}

    async def test_a_replay_is_counted_on_metrics(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        await post(client, auth(ALICE), "order-1")
        before = replays((await client.get("/metrics")).text, "replayed")

        await post(client, auth(ALICE), "order-1")

        assert replays((await client.get("/metrics")).text, "replayed") == before + 1


class TestOtherRequest:
    """The same key with another body is refused, and changes nothing."""

    async def test_the_same_key_with_another_body_is_a_422(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        first = await post(client, auth(ALICE), "order-1")

        other = await post(client, auth(ALICE), "order-1", OTHER_BODY)

        assert other.status_code == 422
        assert other.json() == {
            "detail": "this Idempotency-Key was already used with another request"
        }
        assert await counts(app, ALICE) == {"orders": 1, "outbox": 1, "keys": 1}
        again = await post(client, auth(ALICE), "order-1")
        assert again.status_code == 201
        assert again.content == first.content


class TestInFlight:
    """A repeat while the first request is still being handled is a 409 at once: it neither
    waits for the first nor creates a second order."""

    async def test_a_repeat_during_the_first_request_is_a_409_and_one_order_is_made(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth, outsider: AsyncConnection
    ) -> None:
        # Hold the first request inside its transaction: it has taken the key and waits to
        # insert its order while this connection keeps the orders table locked.
        await outsider.execute(text("LOCK TABLE orders IN SHARE MODE"))
        first = asyncio.create_task(post(client, auth(ALICE), "order-1"))

        async def first_is_waiting() -> bool:
            waiting = await app_scalar(
                app,
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'orders' AND NOT l.granted "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
            return waiting == 1

        await eventually_async(first_is_waiting, 10, "the first request waiting in its INSERT")

        second = await asyncio.wait_for(post(client, auth(ALICE), "order-1"), 10)
        await outsider.rollback()
        first_response = await asyncio.wait_for(first, 10)

        assert second.status_code == 409
        assert second.json() == {
            "detail": "a request with this Idempotency-Key is still in progress; "
            "retry once it has been answered"
        }
        assert first_response.status_code == 201, first_response.text
        assert await counts(app, ALICE) == {"orders": 1, "outbox": 1, "keys": 1}
        retried = await post(client, auth(ALICE), "order-1")
        assert retried.status_code == 201
        assert retried.content == first_response.content


class TestFailedAttempt:
    """A first attempt whose transaction the database refuses stores nothing: its retry makes
    the order once."""

    async def test_a_refused_commit_leaves_no_key_and_the_retry_creates_the_order_once(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth, outsider: AsyncConnection
    ) -> None:
        # Checked at COMMIT, after the order, its event and the key have all been written.
        await outsider.execute(
            text(
                "CREATE OR REPLACE FUNCTION test_refuse_commit() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'refused by the test' USING ERRCODE = '40001'; END $$"
            )
        )
        await outsider.execute(
            text(
                "CREATE CONSTRAINT TRIGGER test_refuse_commit AFTER INSERT ON idempotency_keys "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_commit()"
            )
        )
        await outsider.commit()
        try:
            failed = await post(client, auth(ALICE), "order-1")
        finally:
            await outsider.execute(
                text("DROP TRIGGER IF EXISTS test_refuse_commit ON idempotency_keys")
            )
            await outsider.execute(text("DROP FUNCTION IF EXISTS test_refuse_commit()"))
            await outsider.commit()

        assert failed.status_code == 500
        assert await counts(app, ALICE) == {"orders": 0, "outbox": 0, "keys": 0}

        retried = await post(client, auth(ALICE), "order-1")
        again = await post(client, auth(ALICE), "order-1")

        assert retried.status_code == 201, retried.text
        assert again.content == retried.content
        assert await counts(app, ALICE) == {"orders": 1, "outbox": 1, "keys": 1}


class TestScope:
    """Keys are per user; without a key every POST is a new order."""

    async def test_another_users_same_key_makes_that_users_own_order(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        alices = await post(client, auth(ALICE), "order-1")

        bobs = await post(client, auth(BOB), "order-1")

        assert bobs.status_code == 201
        assert bobs.json()["id"] != alices.json()["id"]
        assert bobs.json()["user_id"] == BOB
        assert await counts(app, ALICE) == {"orders": 1, "outbox": 1, "keys": 1}
        assert await counts(app, BOB) == {"orders": 1, "outbox": 1, "keys": 1}
        assert (await post(client, auth(ALICE), "order-1")).content == alices.content

    async def test_without_a_key_two_posts_are_two_orders(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        first = await post(client, auth(ALICE), None)
        second = await post(client, auth(ALICE), None)

        assert first.status_code == second.status_code == 201
        assert first.json()["id"] != second.json()["id"]
        assert await counts(app, ALICE) == {"orders": 2, "outbox": 2, "keys": 0}


BAD_KEYS: list[tuple[str, str | bytes]] = [
    ("empty", ""),
    ("256 characters", "k" * 256),
    ("a space inside", "order 1"),
    ("a tab inside", "order\t1"),
    ("not ASCII", "clé".encode()),
]


class TestKeyRules:
    """A key is 1 to 255 visible ASCII characters; any other is a 422 that stores nothing."""

    @pytest.mark.parametrize(("case", "key"), BAD_KEYS, ids=[case for case, _ in BAD_KEYS])
    async def test_a_bad_key_is_a_422(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth, case: str, key: str | bytes
    ) -> None:
        response = await post(client, auth(ALICE), key)

        assert response.status_code == 422, (case, response.text)
        (issue,) = response.json()["detail"]
        assert issue["loc"] == ["header", "Idempotency-Key"]
        assert "1 to 255 visible ASCII characters" in issue["msg"]
        assert await counts(app, ALICE) == {"orders": 0, "outbox": 0, "keys": 0}

    @pytest.mark.parametrize("key", ["k" * 255, "!", '"8e03978e-40d5-43e8-bc93-6894a57f9324"'])
    async def test_keys_up_to_255_visible_characters_are_taken(
        self, client: httpx.AsyncClient, auth: Auth, key: str
    ) -> None:
        first = await post(client, auth(ALICE), key)
        again = await post(client, auth(ALICE), key)

        assert first.status_code == 201, first.text
        assert again.content == first.content


class TestExpiry:
    """A key older than ORDERS_IDEMPOTENCY_KEY_TTL_HOURS counts as absent."""

    async def test_a_key_past_its_ttl_can_be_used_for_a_new_order(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth, outsider: AsyncConnection
    ) -> None:
        first = await post(client, auth(ALICE), "order-1")
        await outsider.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
                "WHERE user_id = :u"
            ),
            {"u": ALICE},
        )
        await outsider.commit()

        reused = await post(client, auth(ALICE), "order-1", OTHER_BODY)
        again = await post(client, auth(ALICE), "order-1", OTHER_BODY)

        assert reused.status_code == 201, reused.text
        assert reused.json()["id"] != first.json()["id"]
        assert again.content == reused.content
        assert await counts(app, ALICE) == {"orders": 2, "outbox": 2, "keys": 1}

    async def test_a_key_within_its_ttl_is_kept(
        self, client: httpx.AsyncClient, auth: Auth, outsider: AsyncConnection
    ) -> None:
        await post(client, auth(ALICE), "order-1")
        await outsider.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - interval '23 hours' "
                "WHERE user_id = :u"
            ),
            {"u": ALICE},
        )
        await outsider.commit()

        assert (await post(client, auth(ALICE), "order-1", OTHER_BODY)).status_code == 422


class TestDocumented:
    """The OpenAPI document names the header, its rules, and the 409 and 422 it may cause."""

    async def test_openapi_documents_the_header_the_409_and_the_422(
        self, client: httpx.AsyncClient
    ) -> None:
        operation = (await client.get("/openapi.json")).json()["paths"]["/orders/"]["post"]

        (header,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert header["in"] == "header"
        assert header["required"] is False
        assert header["schema"] == {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": r"^[\x21-\x7e]+$",
            "title": "Idempotency-Key",
        }
        responses = operation["responses"]
        assert "Idempotency-Key is in progress" in responses["409"]["description"]
        assert "already used with another body" in responses["422"]["description"]
        refs = responses["422"]["content"]["application/json"]["schema"]["anyOf"]
        assert {ref["$ref"].rsplit("/", 1)[1] for ref in refs} == {
            "ValidationErrorBody",
            "ErrorBody",
        }
