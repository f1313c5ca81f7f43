"""All SQL of the idempotency_keys table: a key's row is written in the transaction of the order
it answered for, read back by repeats, and deleted by the relay's housekeeping once expired."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from orders_service.db.models import IdempotencyKey


def lock_id(user_id: int, key: str) -> int:
    """The advisory lock of one user's key: 64 bits of a hash (PostgreSQL's lock ids are
    bigints). Two keys sharing one (odds of 2**-64) would at worst answer 409 to each other while
    both are in flight."""
    digest = hashlib.sha256(f"idempotency-key:{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class IdempotencyKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def try_lock(self, user_id: int, key: str) -> bool:
        """Take the key's lock until the transaction ends, without waiting: False while another
        transaction holds it (a request with this key is still being handled)."""
        taken = await self.session.scalar(
            select(func.pg_try_advisory_xact_lock(lock_id(user_id, key)))
        )
        return bool(taken)

    async def get(self, user_id: int, key: str) -> IdempotencyKey | None:
        stmt = select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def add(self, record: IdempotencyKey) -> None:
        """In the caller's transaction: the key is stored if and only if its order commits."""
        self.session.add(record)
        await self.session.flush()

    async def discard(self, record: IdempotencyKey) -> None:
        """Forget an expired key now, so that it can be stored again in this transaction."""
        await self.session.delete(record)
        await self.session.flush()

    async def delete_created_before(self, cutoff: datetime, limit: int) -> int:
        """Delete up to `limit` of the oldest keys created before `cutoff`; keys a request is
        replacing right now (their rows locked) are left for the next round."""
        expired = (
            select(IdempotencyKey.user_id, IdempotencyKey.key)
            .where(IdempotencyKey.created_at < cutoff)
            .order_by(IdempotencyKey.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self.session.execute(
            delete(IdempotencyKey).where(
                tuple_(IdempotencyKey.user_id, IdempotencyKey.key).in_(expired)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)
