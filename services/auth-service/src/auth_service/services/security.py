"""Password hashing with bcrypt, always off the event loop."""

from __future__ import annotations

import asyncio
import secrets

import bcrypt

from auth_service.schemas import PASSWORD_MAX_BYTES


def fits_bcrypt(password: str) -> bool:
    """bcrypt 5 refuses (raises on) passwords longer than 72 bytes."""
    return len(password.encode("utf-8")) <= PASSWORD_MAX_BYTES


class PasswordHasher:
    """bcrypt at a fixed cost. Checking a password for an unknown user costs the same as
    checking a wrong one: it runs against a dummy hash made once, at the same cost."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self._dummy_hash = self._hash(secrets.token_urlsafe(24))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """A hash made at another cost (AUTH_BCRYPT_ROUNDS changed since): checking it takes
        another time than the dummy hash of an unknown email, so it is replaced at the next
        successful login."""
        try:
            return int(password_hash.split("$")[2]) != self.rounds
        except (IndexError, ValueError):
            return False

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """True if `password` matches; `None` (no such user) spends the time and says False."""
        return await asyncio.to_thread(self._verify, password, password_hash)

    def _hash(self, password: str) -> str:
        if not fits_bcrypt(password):
            raise ValueError(f"password longer than {PASSWORD_MAX_BYTES} bytes")
        salt = bcrypt.gensalt(rounds=self.rounds)
        return bcrypt.hashpw(password.encode("utf-8"), salt).decode("ascii")

    def _verify(self, password: str, password_hash: str | None) -> bool:
        candidate = password.encode("utf-8")
        usable = password_hash is not None and fits_bcrypt(password)
        # too long or unknown user: compare something of the same cost, then answer False
        against = password_hash if password_hash is not None else self._dummy_hash
        try:
            matches = bcrypt.checkpw(candidate if usable else b"", against.encode("ascii"))
        except ValueError:  # a malformed stored hash is a failed login, not a 500
            return False
        return usable and matches
