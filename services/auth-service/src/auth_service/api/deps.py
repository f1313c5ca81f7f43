"""Request dependencies: session, repositories, the current user, rate-limit keys."""

import hashlib
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from auth_service.db.models import User
from auth_service.db.repository import UserRepository
from auth_service.db.session import SessionDep
from auth_service.schemas import normalize_email
from auth_service.services import users
from auth_service.services.access_tokens import TokenService
from auth_service.services.security import PasswordHasher
from service_kit.proxies import TrustedProxies, client_ip

Session = SessionDep

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token/")


def get_users(session: Session) -> UserRepository:
    return UserRepository(session)


def get_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.hasher
    return hasher


def get_tokens(request: Request) -> TokenService:
    tokens: TokenService = request.app.state.tokens
    return tokens


Users = Annotated[UserRepository, Depends(get_users)]
Hasher = Annotated[PasswordHasher, Depends(get_hasher)]
Tokens = Annotated[TokenService, Depends(get_tokens)]


def login_form(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> OAuth2PasswordRequestForm:
    """The OAuth2 password form; the username is kept for the /token/ rate-limit key, which is
    computed from the request."""
    request.state.login_username = normalize_email(form.username) or form.username.lower()
    return form


LoginForm = Annotated[OAuth2PasswordRequestForm, Depends(login_form)]


async def get_current_user(
    token: Annotated[str, Depends(oauth2_scheme)], users_repo: Users, tokens: Tokens
) -> User:
    return await users.current_user(users_repo, tokens, token)


CurrentUser = Annotated[User, Depends(get_current_user)]


# ------------------------------------------------------------------- rate-limit keys


def ip_key(trusted: TrustedProxies) -> Callable[[Request], str]:
    def key(request: Request) -> str:
        return client_ip(request, trusted)

    return key


def ip_and_username_key(trusted: TrustedProxies) -> Callable[[Request], str]:
    """Client IP plus the (hashed: no emails in Redis or logs) username of the login form."""

    def key(request: Request) -> str:
        username: str = getattr(request.state, "login_username", "")
        digest = hashlib.sha256(username.encode("utf-8")).hexdigest()[:32]
        return f"{client_ip(request, trusted)}|{digest}"

    return key
