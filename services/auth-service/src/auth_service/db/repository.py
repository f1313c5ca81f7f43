"""All SQL of auth-service (ORM queries only). The request's session commits; this never does."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.db.models import User

EMAIL_UNIQUE_CONSTRAINT = "uq_users_email"


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(User.email == email))
        return result.scalar_one_or_none()

    async def add(self, email: str, password_hash: str) -> User | None:
        """The new user, or None when the email is taken (also when a concurrent insert won)."""
        user = User(email=email, password_hash=password_hash)
        try:
            async with self.session.begin_nested():
                self.session.add(user)
        except IntegrityError as exc:
            if _violates(exc, EMAIL_UNIQUE_CONSTRAINT):
                return None
            raise
        # id and created_at came back with the INSERT (RETURNING): no second query
        return user

    def set_password_hash(self, user: User, password_hash: str) -> None:
        """Replace `user`'s hash; the UPDATE goes out with the session's flush or commit."""
        user.password_hash = password_hash


def _violates(exc: IntegrityError, constraint: str) -> bool:
    """Whether the database refused the row because of `constraint` (asyncpg puts the name on
    the driver's exception; the message names it for other drivers)."""
    cause: BaseException | None = exc.orig
    while cause is not None:
        if getattr(cause, "constraint_name", None) == constraint:
            return True
        cause = cause.__cause__
    return constraint in str(exc.orig)
