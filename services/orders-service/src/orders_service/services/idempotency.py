"""`Idempotency-Key` on POST /orders/ (after the IETF httpapi draft "The Idempotency-Key HTTP
Header Field"): a client that retries with the same key gets the first answer again, and never a
second order.

Storage. One row per (user, key) in idempotency_keys: the fingerprint of the validated request
and the answer (status, body, order id), written in the order's own transaction with the order and
its outbox row. So it exists exactly when they do: a first attempt that rolls back (a database
failure, a crash) leaves nothing behind, and its retry creates the order once.

In flight. The transaction first tries the key's advisory lock (`pg_try_advisory_xact_lock`), and
never waits for it. Held elsewhere: a request with this key is being handled right now, so this
one is a 409 and creates nothing. Taken: only then is the row looked up. Under READ COMMITTED a
statement sees every transaction that committed before it began, and a holder releases the lock
only after its commit, so a key that was answered is found: the same fingerprint replays the
stored answer, another one is a 422. Not found: the order is created and the key stored with it.

Expiry. A key lives `ORDERS_IDEMPOTENCY_KEY_TTL_HOURS` (at least 24 h). An older one counts as
absent and may be used again, for a new order; the relay's housekeeping deletes it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from orders_service.db.idempotency_repository import IdempotencyKeyRepository
from orders_service.db.models import IdempotencyKey
from orders_service.services.errors import IdempotencyKeyInFlight, IdempotencyKeyReused

log = structlog.get_logger(__name__)

IDEMPOTENT_REPLAYS = Counter(
    "orders_idempotent_replays_total",
    "Repeats of an Idempotency-Key by outcome",
    ["outcome"],  # replayed, in_flight, other_request
)


@dataclass(frozen=True)
class Answer:
    """What POST /orders/ answers: the status and the JSON body, for the order it names."""

    status_code: int
    body: dict[str, Any]
    order_id: uuid.UUID


def fingerprint(request: BaseModel) -> str:
    """sha256 of the validated body as canonical JSON: bodies that validate to the same order
    ("9.99" or 9.99, fields in any order, `name` null or left out) are the same request."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def answer_once(
    session: AsyncSession,
    *,
    user_id: int,
    key: str,
    request: BaseModel,
    ttl: timedelta,
    answer: Callable[[], Awaitable[Answer]],
) -> Answer:
    """`answer()`'s result stored under the user's key in the caller's transaction, or the answer
    stored by an earlier request with this key and body."""
    keys = IdempotencyKeyRepository(session)
    if not await keys.try_lock(user_id, key):
        IDEMPOTENT_REPLAYS.labels("in_flight").inc()
        log.info("orders.idempotency_key_in_flight", user_id=user_id)
        raise IdempotencyKeyInFlight()
    digest = fingerprint(request)
    now = datetime.now(UTC)
    stored = await keys.get(user_id, key)
    if stored is not None and stored.created_at <= now - ttl:
        await keys.discard(stored)
        stored = None
    if stored is not None:
        if stored.fingerprint != digest:
            IDEMPOTENT_REPLAYS.labels("other_request").inc()
            log.info("orders.idempotency_key_reused", user_id=user_id)
            raise IdempotencyKeyReused()
        IDEMPOTENT_REPLAYS.labels("replayed").inc()
        log.info("orders.idempotent_replay", user_id=user_id, order_id=str(stored.order_id))
        return Answer(stored.response_status, stored.response_body, stored.order_id)
    first = await answer()
    await keys.add(
        IdempotencyKey(
            user_id=user_id,
            key=key,
            fingerprint=digest,
            response_status=first.status_code,
            response_body=first.body,
            order_id=first.order_id,
            created_at=now,
        )
    )
    return first
