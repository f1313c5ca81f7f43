"""HTTP routes of auth-service: thin, each documents its error codes with the errors it raises."""

from fastapi import APIRouter, Request, Response

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
from auth_service.services.errors import EmailTaken, InvalidCredentials
from service_kit.errors import TooManyRequests, Unauthorized, error_responses
from service_kit.proxies import TrustedProxies
from service_kit.ratelimit import RateLimiter, rate_limit
from service_kit.tokens import InvalidToken


def build_router(limiter: RateLimiter, settings: Settings, trusted: TrustedProxies) -> APIRouter:
    """The routes, rate-limited with `limiter` at the limits in `settings`, per client address
    as seen through the `trusted` proxies. Each limit is checked first thing in its endpoint,
    after the request validated: a malformed request is a 422 and costs no attempt."""
    router = APIRouter(tags=["auth"])
    register_limit = rate_limit(limiter, settings.rate_limit_register, "register", ip_key(trusted))
    token_ip_limit = rate_limit(
        limiter, settings.rate_limit_token_per_ip, "token-ip", ip_key(trusted)
    )
    token_limit = rate_limit(
        limiter, settings.rate_limit_token, "token", ip_and_username_key(trusted)
    )

    @router.post(
        "/register/",
        status_code=201,
        response_model=UserRead,
        summary="Create an account",
        responses=error_responses(
            EmailTaken,
            TooManyRequests,
            invalid="invalid email, or password not 8..72 bytes (UTF-8)",
        ),
    )
    async def register(
        request: Request, body: UserCreate, users_repo: Users, hasher: Hasher
    ) -> User:
        await register_limit(request)
        return await users.register(users_repo, hasher, body)

    @router.post(
        "/token/",
        response_model=Token,
        summary="Log in (OAuth2 password flow): username is the email",
        responses=error_responses(
            InvalidCredentials, TooManyRequests, invalid="a form field is missing"
        ),
    )
    async def token(
        request: Request, form: LoginForm, users_repo: Users, hasher: Hasher, tokens: Tokens
    ) -> Token:
        await token_ip_limit(request)  # both before any password is hashed
        await token_limit(request)
        issued = await users.login(users_repo, hasher, tokens, form.username, form.password)
        return Token(access_token=issued.access_token, expires_in=issued.expires_in)

    @router.get(
        "/users/me/",
        response_model=UserRead,
        summary="The account of the bearer token",
        # no Bearer token at all is FastAPI's own 401, of the same shape
        responses=error_responses((Unauthorized, "no bearer token"), InvalidToken),
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
