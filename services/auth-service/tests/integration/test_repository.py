"""UserRepository on the real database: the unique constraint decides a registration race."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from auth_service.db.repository import UserRepository


@pytest.fixture
async def session(cleanup_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(cleanup_engine, expire_on_commit=False) as session:
        yield session


async def test_add_returns_the_new_user(session: AsyncSession) -> None:
    users = UserRepository(session)

    user = await users.add("alice@example.com", "$2b$04$hash")
    await session.commit()

    assert user is not None
    assert user.id > 0
    assert user.created_at is not None
    assert user.is_active
    assert await users.get_by_email("alice@example.com") == user


async def test_add_of_a_taken_email_returns_none_and_keeps_the_session_usable(
    session: AsyncSession,
) -> None:
    """What a request that lost the race sees: the insert hits uq_users_email."""
    users = UserRepository(session)
    first = await users.add("bob@example.com", "$2b$04$first")

    again = await users.add("bob@example.com", "$2b$04$second")
    other = await users.add("carol@example.com", "$2b$04$third")
    await session.commit()

    assert first is not None
    assert again is None
    assert other is not None
    stored = await users.get_by_email("bob@example.com")
    assert stored is not None
    assert stored.password_hash == "$2b$04$first"


async def test_other_integrity_errors_are_not_taken_for_a_taken_email(
    session: AsyncSession,
) -> None:
    users = UserRepository(session)

    with pytest.raises(IntegrityError, match="ck_users_email_lower"):
        await users.add("Not-Lower@example.com", "$2b$04$hash")


async def test_a_new_password_hash_is_stored_with_the_commit(session: AsyncSession) -> None:
    users = UserRepository(session)
    user = await users.add("dave@example.com", "$2b$04$old")
    await session.commit()
    assert user is not None

    users.set_password_hash(user, "$2b$05$new")
    await session.commit()
    session.expunge_all()

    stored = await users.get(user.id)
    assert stored is not None
    assert stored.password_hash == "$2b$05$new"
