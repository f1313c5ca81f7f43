"""Signing keys, access tokens and the JWKS.

One algorithm (config.JWT_ALGORITHM: EdDSA over Ed25519). The current private key signs; its
public key and the public keys of retired signing keys verify, each found by its `kid`, the
RFC 7638 thumbprint of the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auth_service.config import JWT_ALGORITHM, Settings
from service_kit.tokens import InvalidToken, subject_for, user_id_from_subject

log = structlog.get_logger(__name__)

DEV_KEY_FILE: Final = "jwt-signing-key.pem"
REQUIRED_CLAIMS: Final = ("exp", "iat", "sub", "iss", "aud", "jti")
# Replicas' clocks may disagree a little about `iat`/`exp`.
CLOCK_SKEW_SECONDS: Final = 10


# ------------------------------------------------------------------------------------ keys


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256): the required members, sorted, no whitespace."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public_bytes(public_key))}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _b64url(hashlib.sha256(canonical).digest())


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw_public_bytes(public_key)),
        "kid": thumbprint(public_key),
        "alg": JWT_ALGORITHM,
        "use": "sig",
    }


def _pem_bytes(pem: str | bytes) -> bytes:
    text = pem.decode("utf-8") if isinstance(pem, bytes) else pem
    # a PEM squeezed into one env line with literal "\n" escapes
    return text.replace("\\n", "\n").strip().encode("utf-8") + b"\n"


def load_private_key(pem: str | bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_pem_bytes(pem), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("the JWT private key is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"the JWT private key must be Ed25519 ({JWT_ALGORITHM})")
    return key


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """A public key PEM; a private key PEM is accepted too (its public half is used)."""
    data = _pem_bytes(pem)
    if b"PRIVATE KEY" in data:
        return load_private_key(data).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError("a previous JWT public key is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"a previous JWT public key must be Ed25519 ({JWT_ALGORITHM})")
    return key


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read_private_key_file(path: Path) -> Ed25519PrivateKey:
    if path.stat().st_mode & 0o077:
        log.warning("auth.jwt_key_file_readable_by_others", path=str(path))
    return load_private_key(path.read_bytes())


def ensure_dev_key(key_dir: Path) -> Ed25519PrivateKey:
    """The key in `key_dir`, generated (mode 0600) at the first start.

    Replicas starting together agree on one key: the new file is linked into place, which
    fails if another process was first, and then that process's key is read.
    """
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = key_dir / DEV_KEY_FILE
    if path.exists():
        return _read_private_key_file(path)
    key = Ed25519PrivateKey.generate()
    tmp = key_dir / f".{DEV_KEY_FILE}.{uuid.uuid4().hex}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(private_key_pem(key))
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)
    except FileExistsError:
        return _read_private_key_file(path)
    finally:
        tmp.unlink(missing_ok=True)
    log.warning("auth.jwt_key_generated", path=str(path), kid=thumbprint(key.public_key()))
    return key


def signing_key_from_settings(settings: Settings) -> Ed25519PrivateKey:
    if settings.jwt_private_key is not None:
        return load_private_key(settings.jwt_private_key.get_secret_value())
    if settings.jwt_private_key_file is not None:
        return _read_private_key_file(settings.jwt_private_key_file)
    if settings.environment != "dev":  # settings validation refuses this already
        raise ValueError("no JWT signing key configured")
    return ensure_dev_key(settings.jwt_key_dir)


@dataclass(frozen=True)
class KeyRing:
    """The signing key and every public key that may verify a live token, by kid."""

    signing_key: Ed25519PrivateKey
    kid: str
    public_keys: Mapping[str, Ed25519PublicKey]

    @classmethod
    def build(
        cls, signing_key: Ed25519PrivateKey, previous: Sequence[Ed25519PublicKey] = ()
    ) -> KeyRing:
        current = signing_key.public_key()
        public_keys = {thumbprint(current): current}
        for key in previous:
            public_keys.setdefault(thumbprint(key), key)
        return cls(signing_key, thumbprint(current), public_keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        previous = [
            load_public_key(p.read_bytes()) for p in settings.jwt_previous_public_keys_files
        ]
        return cls.build(signing_key_from_settings(settings), previous)


# ---------------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


def build_claims(
    user_id: int,
    *,
    issuer: str,
    audience: str,
    now: datetime,
    lifetime: timedelta,
    jti: str | None = None,
) -> dict[str, Any]:
    issued_at = int(now.timestamp())
    return {
        "sub": subject_for(user_id),
        "iss": issuer,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + int(lifetime.total_seconds()),
        "jti": jti or uuid.uuid4().hex,
    }


class TokenService:
    def __init__(self, keys: KeyRing, *, issuer: str, audience: str, lifetime: timedelta) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenService:
        return cls(
            KeyRing.from_settings(settings),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            lifetime=timedelta(minutes=settings.access_token_minutes),
        )

    def issue(self, user_id: int, now: datetime | None = None) -> IssuedToken:
        claims = build_claims(
            user_id,
            issuer=self.issuer,
            audience=self.audience,
            now=now or datetime.now(UTC),
            lifetime=self.lifetime,
        )
        token = jwt.encode(
            claims, self.keys.signing_key, algorithm=JWT_ALGORITHM, headers={"kid": self.keys.kid}
        )
        return IssuedToken(token, int(self.lifetime.total_seconds()))

    def verify(self, token: str) -> int:
        """The user id of a valid access token; InvalidToken for anything else."""
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self.keys.public_keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise InvalidToken("unknown signing key")
            if header.get("alg") != JWT_ALGORITHM:
                raise InvalidToken("algorithm not allowed")
            claims = jwt.decode(
                token,
                key,
                algorithms=[JWT_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": list(REQUIRED_CLAIMS), "strict_aud": True},
            )
            return user_id_from_subject(claims["sub"])
        except InvalidToken as exc:
            log.info("auth.token_rejected", reason=exc.detail)
            raise InvalidToken() from exc
        except jwt.PyJWTError as exc:
            log.info("auth.token_rejected", reason=type(exc).__name__)
            raise InvalidToken() from exc

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [public_jwk(key) for key in self.keys.public_keys.values()]}
