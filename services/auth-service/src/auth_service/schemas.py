"""Request and response bodies: the only User → JSON mapping."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError

# bcrypt uses at most 72 bytes of a password; longer ones are refused, never cut silently.
PASSWORD_MIN_BYTES: Final = 8
PASSWORD_MAX_BYTES: Final = 72


def password_length_problem(password: str) -> str | None:
    """Why `password` has the wrong length in UTF-8 bytes, or None when it is fine."""
    size = len(password.encode("utf-8"))
    if size < PASSWORD_MIN_BYTES:
        return f"password must be at least {PASSWORD_MIN_BYTES} bytes (UTF-8)"
    if size > PASSWORD_MAX_BYTES:
        return f"password must be at most {PASSWORD_MAX_BYTES} bytes (UTF-8)"
    return None


def normalize_email(email: str) -> str | None:
    """The one normal form of an address, for registration and login alike: email-validator's
    (the one behind EmailStr: Unicode NFC, an IDNA domain in Unicode), then lower case, since
    addresses are compared case-insensitively. None when the text is no email address."""
    try:
        return validate_email(email)[1].lower()
    except PydanticCustomError:
        return None


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"email": "alice@example.com", "password": "s3cret-pass"}]},
    )

    email: EmailStr
    password: str = Field(
        description=f"{PASSWORD_MIN_BYTES} to {PASSWORD_MAX_BYTES} bytes in UTF-8",
        json_schema_extra={"format": "password", "writeOnly": True},
    )

    @field_validator("email")
    @classmethod
    def _normal_form(cls, email: str) -> str:
        return normalize_email(email) or email

    @field_validator("password")
    @classmethod
    def _byte_length(cls, password: str) -> str:
        problem = password_length_problem(password)
        if problem is not None:
            raise ValueError(problem)
        return password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    created_at: datetime


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="seconds until the token expires")


class JWK(BaseModel):
    """One public key (RFC 7517); Ed25519 keys are OKP keys (RFC 8037)."""

    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class JWKS(BaseModel):
    keys: list[JWK]
