"""HTTP routes of auth-service: thin, each documents its error codes.

(No `from __future__ import annotations` here: slowapi's decorator wraps the endpoints, and
FastAPI would then resolve string annotations in slowapi's module.)
"""

from typing import Any

from fastapi import APIRouter, Request, Response
from slowapi import Limiter

from auth_service.api.deps import (
    CurrentUser,
    Hasher,
    LoginForm,
    Tokens,
    Users,
    ip_and_username_key,
    ip_key,
)
from auth_service.config import Settings
from auth_service.db.models import User
from auth_service.schemas import JWKS, Token, UserCreate, UserRead
from auth_service.services import users
from service_kit.ratelimit import parse_networks

_DETAIL = {"content": {"application/json": {"example": {"detail": "…"}}}}
_RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "too many requests; `Retry-After` gives the seconds to wait",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        **_DETAIL,
    }
}
_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "not authenticated (`WWW-Authenticate: Bearer`)",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        **_DETAIL,
    }
}


def build_router(limiter: Limiter, settings: Settings) -> APIRouter:
    """The routes, rate-limited with `limiter` at the limits in `settings`."""
    trusted = parse_networks(settings.trusted_proxies)
    router = APIRouter(tags=["auth"])

    @router.post(
        "/register/",
        status_code=201,
        response_model=UserRead,
        summary="Create an account",
        responses={
            409: {"description": "email already registered", **_DETAIL},
            422: {"description": "invalid email, or password not 8..72 bytes (UTF-8)"},
            **_RATE_LIMITED,
        },
    )
    @limiter.limit(settings.rate_limit_register, key_func=ip_key(trusted))
    async def register(
        request: Request, body: UserCreate, users_repo: Users, hasher: Hasher
    ) -> User:
        return await users.register(users_repo, hasher, body)

    @router.post(
        "/token/",
        response_model=Token,
        summary="Log in (OAuth2 password flow): username is the email",
        responses={
            **_UNAUTHORIZED,
            422: {"description": "a form field is missing"},
            **_RATE_LIMITED,
        },
    )
    @limiter.limit(settings.rate_limit_token, key_func=ip_and_username_key(trusted))
    async def token(
        request: Request, form: LoginForm, users_repo: Users, hasher: Hasher, tokens: Tokens
    ) -> Token:
        issued = await users.login(users_repo, hasher, tokens, form.username, form.password)
        return Token(access_token=issued.access_token, expires_in=issued.expires_in)

    @router.get(
        "/users/me/",
        response_model=UserRead,
        summary="The account of the bearer token",
        responses=_UNAUTHORIZED,
    )
    async def me(user: CurrentUser) -> User:
        return user

    @router.get(
        "/.well-known/jwks.json",
        response_model=JWKS,
        summary="Public keys that verify live access tokens (RFC 7517)",
    )
    async def jwks(response: Response, tokens: Tokens) -> dict[str, list[dict[str, str]]]:
        response.headers["Cache-Control"] = "public, max-age=60"
        return tokens.jwks()

    return router
