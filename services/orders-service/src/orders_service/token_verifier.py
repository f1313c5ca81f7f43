"""Access-token verification: signature with a trusted public key, fixed algorithm allow-list,
required claims exp, iat, sub, iss, aud.

Keys come from auth-service's JWKS (ORDERS_JWKS_URL), or from a PEM public key file
(ORDERS_JWT_PUBLIC_KEY_FILE) instead. JWKS keys are held in memory: loaded at start-up (an
auth-service that is down does not stop start-up; a background task retries with back-off),
refreshed every ORDERS_JWKS_REFRESH_SECONDS, and refreshed early when a token names an unknown
`kid` - at most once per ORDERS_JWKS_MIN_REFRESH_INTERVAL_SECONDS, in the background. The request
path never waits for a key fetch: a token whose key is not known yet is a 401.

Verified tokens are remembered (at most VERIFIED_TOKENS of them, the oldest forgotten first)
until they expire: a client sends the same token with every call, and its signature and claims
cannot change, so a repeat costs a dictionary lookup instead of a signature check. A remembered
token still needs its signing key to be trusted now: once the key leaves the JWKS (or the file's
key is replaced) the token is verified again, and refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWK
from jwt.algorithms import get_default_algorithms

from orders_service.config import Settings
from service_kit.backoff import backoff_delay
from service_kit.logging import Throttled
from service_kit.tokens import InvalidToken, user_id_from_subject

log = structlog.get_logger(__name__)

REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]
# A JWKS that cannot be fetched is retried after about 1 s, 2 s, 4 s ... (jittered), up to the
# cap (or the refresh interval, when that is shorter).
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 30.0
# Tokens remembered as verified (a few MB at most).
VERIFIED_TOKENS = 10_000


@dataclass(frozen=True)
class _Verified:
    user_id: int
    expires_at: float  # `exp` plus the leeway, as time.time()
    kid: str | None
    alg: str
    key: PyJWK


class KeySource(Protocol):
    def key_for(self, kid: str | None, alg: str) -> PyJWK | None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        algorithms: Iterable[str],
        issuer: str,
        audience: str,
        leeway_seconds: float = 0.0,
    ) -> None:
        self.keys = keys
        self.algorithms = frozenset(algorithms)
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    def known_user(self, token: str) -> int | None:
        """The user id of a token verified before that is still valid, else None (then `verify`
        decides)."""
        known = self._verified.get(token)
        if known is None:
            return None
        if time.time() < known.expires_at and self.keys.key_for(known.kid, known.alg) is known.key:
            return known.user_id
        del self._verified[token]
        return None

    def verify(self, token: str) -> int:
        """The user id (`sub`) of a valid token; raises InvalidToken otherwise."""
        known = self.known_user(token)
        if known is not None:
            return known
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _rejected("malformed") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise _rejected("algorithm_not_allowed")
        if kid is not None and not isinstance(kid, str):
            raise _rejected("malformed")
        key = self.keys.key_for(kid, alg)
        if key is None:
            raise _rejected("unknown_key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise _rejected(type(exc).__name__) from None
        try:
            user_id = user_id_from_subject(claims["sub"])
        except InvalidToken:
            raise _rejected("bad_subject") from None
        self._remember(token, _Verified(user_id, claims["exp"] + self.leeway, kid, alg, key))
        return user_id

    def _remember(self, token: str, verified: _Verified) -> None:
        self._verified[token] = verified
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)

    async def start(self) -> None:
        await self.keys.start()

    async def stop(self) -> None:
        await self.keys.stop()


# unauthenticated floods are limited per client IP before verification, and logged sparingly
_log_rejected = Throttled(log, "auth.token_rejected")


def _rejected(reason: str) -> InvalidToken:
    _log_rejected(reason=reason)
    return InvalidToken()


class StaticKeys:
    """One public key from a PEM file, usable with each allowed algorithm that fits its type."""

    def __init__(self, pem: bytes, algorithms: Iterable[str]) -> None:
        public_key = load_pem_public_key(pem)  # a private key file is refused here
        self.by_alg: dict[str, PyJWK] = {}
        for alg in algorithms:
            algorithm = get_default_algorithms()[alg]
            try:
                jwk = json.loads(algorithm.to_jwk(algorithm.prepare_key(public_key)))
                self.by_alg[alg] = PyJWK.from_dict(jwk, algorithm=alg)
            except (jwt.PyJWTError, TypeError, ValueError):
                continue  # this algorithm does not fit this key type
        if not self.by_alg:
            raise ValueError(f"the public key fits none of the algorithms {sorted(algorithms)}")

    @classmethod
    def from_file(cls, path: Path, algorithms: Iterable[str]) -> StaticKeys:
        return cls(path.read_bytes(), algorithms)

    def key_for(self, kid: str | None, alg: str) -> PyJWK | None:
        return self.by_alg.get(alg)

    async def start(self) -> None:
        log.info("tokens.public_key_loaded", algorithms=sorted(self.by_alg))

    async def stop(self) -> None:
        return None


class JwksKeys:
    """Keys from a JWKS URL, kept in memory and refreshed by a background task."""

    def __init__(
        self,
        url: str,
        algorithms: Iterable[str],
        refresh_seconds: float,
        min_refresh_interval_seconds: float,
        fetch_timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.algorithms = frozenset(algorithms)
        self.refresh_seconds = refresh_seconds
        self.min_refresh_interval = min_refresh_interval_seconds
        self.fetch_timeout = fetch_timeout_seconds
        self.clock = clock
        self.transport = transport
        self.keys: dict[str | None, PyJWK] = {}
        self.loaded = False
        self.last_requested = -float("inf")  # the last early refresh asked for by a request
        self.failures = 0
        self._healthy: bool | None = None  # None: no fetch yet
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    def key_for(self, kid: str | None, alg: str) -> PyJWK | None:
        keys = self.keys
        key = keys.get(kid)
        if key is None and kid is None and len(keys) == 1:
            key = next(iter(keys.values()))
        if key is None:
            self.request_refresh()
        return key

    def request_refresh(self) -> None:
        """Ask the background task for an early fetch; never blocks, at most one per interval."""
        now = self.clock()
        if now - self.last_requested < self.min_refresh_interval:
            return
        self.last_requested = now
        log.info("tokens.jwks_refresh_requested")
        self._wake.set()

    async def refresh(self) -> bool:
        """Fetch the JWKS once and replace the keys; never raises. True when it worked."""
        client = self._client or httpx.AsyncClient(
            timeout=self.fetch_timeout, transport=self.transport
        )
        try:
            response = await client.get(self.url)
            response.raise_for_status()
            keys = self._parse(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            self.failures += 1
            if self._healthy is not False:
                log.warning("tokens.jwks_unavailable", url=self.url, error=type(exc).__name__)
            self._healthy = False
            return False
        finally:
            if client is not self._client:
                await client.aclose()
        changed = keys.keys() != self.keys.keys()
        self.keys, self.loaded, self.failures = keys, True, 0
        if changed or self._healthy is not True:
            log.info("tokens.jwks_loaded", kids=sorted(str(k) for k in keys), url=self.url)
        self._healthy = True
        return True

    def _parse(self, document: Any) -> dict[str | None, PyJWK]:
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWK set")
        keys: dict[str | None, PyJWK] = {}
        for entry in document["keys"]:
            if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = PyJWK.from_dict(dict(entry))
            except jwt.PyJWTError:
                continue  # a key type or algorithm this service cannot use
            if key.algorithm_name in self.algorithms:
                kid = entry.get("kid")
                keys[kid if isinstance(kid, str) else None] = key
        return keys

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.fetch_timeout, transport=self.transport)
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="jwks-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            if self.loaded and not self.failures:
                delay = self.refresh_seconds
            else:  # not loaded yet, or the last fetch failed: retry sooner, with back-off
                delay = backoff_delay(
                    self.failures,
                    base=RETRY_BASE_SECONDS,
                    cap=min(RETRY_CAP_SECONDS, self.refresh_seconds),
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:  # keep refreshing whatever happened to this attempt
                self.failures += 1
                log.exception("tokens.jwks_refresh_failed", url=self.url)


def make_verifier(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> TokenVerifier:
    keys: KeySource
    if settings.jwt_public_key_file is not None:
        keys = StaticKeys.from_file(settings.jwt_public_key_file, settings.jwt_algorithms)
    else:
        keys = JwksKeys(
            settings.jwks_url,
            settings.jwt_algorithms,
            settings.jwks_refresh_seconds,
            settings.jwks_min_refresh_interval_seconds,
            settings.jwks_fetch_timeout_seconds,
            transport=transport,
        )
    return TokenVerifier(
        keys,
        settings.jwt_algorithms,
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.jwt_leeway_seconds,
    )
