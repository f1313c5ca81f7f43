"""Use cases: register, log in, who am I. Raise domain errors; no web framework here."""

from __future__ import annotations

import structlog

from auth_service.db.models import User
from auth_service.db.repository import UserRepository
from auth_service.schemas import UserCreate, normalize_email
from auth_service.services.access_tokens import IssuedToken, TokenService
from auth_service.services.errors import EmailTaken, InvalidCredentials
from auth_service.services.security import PasswordHasher
from service_kit.tokens import InvalidToken

log = structlog.get_logger(__name__)


async def register(users: UserRepository, hasher: PasswordHasher, data: UserCreate) -> User:
    email = normalize_email(data.email) or data.email
    # checked first so a taken email costs no bcrypt work; the unique constraint decides races
    if await users.get_by_email(email) is not None:
        raise EmailTaken()
    password_hash = await hasher.hash(data.password)
    user = await users.add(email, password_hash)
    if user is None:
        raise EmailTaken()
    log.info("auth.registered", user_id=user.id)
    return user


async def login(
    users: UserRepository,
    hasher: PasswordHasher,
    tokens: TokenService,
    username: str,
    password: str,
) -> IssuedToken:
    """A token for the right email and password. An unknown email, a wrong or over-long
    password and an inactive account all cost one bcrypt check and give the same error."""
    email = normalize_email(username)
    user = await users.get_by_email(email) if email else None
    password_ok = await hasher.verify(password, user.password_hash if user else None)
    if user is None or not password_ok or not user.is_active:
        reason = (
            "unknown_email" if user is None else "wrong_password" if not password_ok else "inactive"
        )
        log.info("auth.login_failed", reason=reason, user_id=user.id if user else None)
        raise InvalidCredentials()
    if hasher.needs_rehash(user.password_hash):
        # saved with the request's commit; the login answers as fast as any other after it
        users.set_password_hash(user, await hasher.hash(password))
        log.info("auth.password_rehashed", user_id=user.id, rounds=hasher.rounds)
    issued = tokens.issue(user.id)
    log.info("auth.logged_in", user_id=user.id)
    return issued


async def current_user(users: UserRepository, tokens: TokenService, token: str) -> User:
    user_id = tokens.verify(token)
    user = await users.get(user_id)
    if user is None or not user.is_active:
        log.info("auth.token_rejected", reason="no active user", user_id=user_id)
        raise InvalidToken()
    return user
