"""Token verification without the network: static keys, JWKS parsing, refresh rate-limiting."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from orders_service.config import Settings
from orders_service.token_verifier import JwksKeys, StaticKeys, TokenVerifier
from service_kit.tokens import InvalidToken
from tests.support import AUDIENCE, ISSUER, SigningKey, ed25519_key, jwks, mint, rsa_key

ALGORITHMS = ["EdDSA", "RS256"]


def verifier(keys: Any) -> TokenVerifier:
    return TokenVerifier(keys, ALGORITHMS, ISSUER, AUDIENCE, leeway_seconds=5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def jwks_keys(clock: Clock | None = None, **overrides: Any) -> JwksKeys:
    values: dict[str, Any] = {
        "url": "http://auth.invalid/.well-known/jwks.json",
        "algorithms": ALGORITHMS,
        "refresh_seconds": 300,
        "min_refresh_interval_seconds": 30,
        "fetch_timeout_seconds": 1,
        "clock": clock or Clock(),
        **overrides,
    }
    return JwksKeys(**values)


@pytest.mark.parametrize("make_key", [ed25519_key, rsa_key])
def test_a_valid_token_gives_the_user_id(make_key: Any) -> None:
    key: SigningKey = make_key()
    check = verifier(StaticKeys(key.public_pem, ALGORITHMS))
    assert check.verify(mint(key, 42)) == 42


def test_a_public_key_serves_only_the_algorithms_of_its_type() -> None:
    assert set(StaticKeys(ed25519_key().public_pem, ALGORITHMS).by_alg) == {"EdDSA"}
    assert set(StaticKeys(rsa_key().public_pem, ALGORITHMS).by_alg) == {"RS256"}
    with pytest.raises(ValueError, match="fits none"):
        StaticKeys(ed25519_key().public_pem, ["RS256"])


def test_a_private_key_file_is_refused() -> None:
    private_pem = ed25519_key().private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError):
        StaticKeys(private_pem, ALGORITHMS)


@pytest.mark.parametrize("sub", ["0", "-1", "1.5", "abc", "\u0663", "9" * 30, ""])
def test_sub_must_be_a_positive_user_id(sub: str) -> None:
    key = ed25519_key()
    with pytest.raises(InvalidToken):
        verifier(StaticKeys(key.public_pem, ALGORITHMS)).verify(mint(key, sub))


def test_iat_in_the_future_is_refused() -> None:
    key = ed25519_key()
    token = mint(key, 1, iat=int(time.time()) + 3600, exp=int(time.time()) + 7200)
    with pytest.raises(InvalidToken):
        verifier(StaticKeys(key.public_pem, ALGORITHMS)).verify(token)


def test_an_allowed_algorithm_with_the_wrong_key_type_is_refused() -> None:
    ed, rsa = ed25519_key(), rsa_key()
    with pytest.raises(InvalidToken):
        verifier(StaticKeys(ed.public_pem, ALGORITHMS)).verify(mint(rsa, 1))


def test_the_jwks_keeps_usable_signing_keys_only() -> None:
    ed, rsa = ed25519_key("ed"), rsa_key("rsa")
    document = jwks(ed, rsa)
    document["keys"] += [
        {**ed.public_jwk, "kid": "enc", "use": "enc"},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "nope", "kid": "broken"},
        "not a key",
    ]
    assert set(jwks_keys()._parse(document)) == {"ed", "rsa"}
    assert set(jwks_keys(algorithms=["EdDSA"])._parse(document)) == {"ed"}
    with pytest.raises(ValueError):
        jwks_keys()._parse({"no": "keys"})


def test_jwks_tokens_are_matched_by_kid() -> None:
    a, b = ed25519_key("a"), rsa_key("b")
    keys = jwks_keys()
    keys.keys = keys._parse(jwks(a, b))
    check = verifier(keys)
    assert check.verify(mint(a, 1)) == 1
    assert check.verify(mint(b, 2)) == 2
    forged = mint(ed25519_key("b"), 3, headers={"alg": "EdDSA"})  # kid b is an RSA key
    with pytest.raises(InvalidToken):
        check.verify(forged)


def test_unknown_kids_ask_for_one_refresh_per_interval() -> None:
    clock = Clock()
    keys = jwks_keys(clock)
    keys.keys = keys._parse(jwks(ed25519_key("known")))
    check = verifier(keys)

    for _ in range(50):
        with pytest.raises(InvalidToken):
            check.verify(mint(ed25519_key("new"), 1))
    assert keys._wake.is_set()  # one request for the background task
    assert keys.last_requested == clock.now

    keys._wake.clear()  # the background task took it
    clock.now += 29
    with pytest.raises(InvalidToken):
        check.verify(mint(ed25519_key("other"), 1))
    assert not keys._wake.is_set()

    clock.now += 1
    with pytest.raises(InvalidToken):
        check.verify(mint(ed25519_key("other"), 1))
    assert keys._wake.is_set()


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], ["EdDSA", "HS512"], []])
def test_only_asymmetric_algorithms_can_be_configured(algorithms: list[str]) -> None:
    with pytest.raises(ValidationError):
        Settings(jwt_algorithms=algorithms)


def test_the_rate_limit_setting_is_checked() -> None:
    with pytest.raises(ValidationError):
        Settings(rate_limit="lots")
    assert Settings(jwt_public_key_file="").jwt_public_key_file is None


class TestVerifiedTokensAreRemembered:
    """A repeat of a verified token is answered without a signature check, as long as it is
    valid and its key is still trusted."""

    def test_a_repeat_is_not_verified_again(self, monkeypatch: pytest.MonkeyPatch) -> None:
        key = ed25519_key()
        check = verifier(StaticKeys(key.public_pem, ALGORITHMS))
        token = mint(key, 7)
        assert check.known_user(token) is None
        assert check.verify(token) == 7
        decodes: list[str] = []

        def decode(*_: Any, **__: Any) -> dict[str, Any]:
            decodes.append("decode")
            return {}

        monkeypatch.setattr("orders_service.token_verifier.jwt.decode", decode)
        assert check.known_user(token) == 7
        assert check.verify(token) == 7
        assert decodes == []

    def test_an_expired_token_is_refused_although_it_was_verified(self) -> None:
        key = ed25519_key()
        check = TokenVerifier(StaticKeys(key.public_pem, ALGORITHMS), ALGORITHMS, ISSUER, AUDIENCE)
        token = mint(key, 7, expires_in=1)
        assert check.verify(token) == 7
        time.sleep(2.1)  # past `exp` (whole seconds), no leeway
        assert check.known_user(token) is None
        with pytest.raises(InvalidToken):
            check.verify(token)

    def test_a_token_whose_key_is_no_longer_trusted_is_refused(self) -> None:
        old, new = ed25519_key(), ed25519_key()
        keys = StaticKeys(old.public_pem, ALGORITHMS)
        check = verifier(keys)
        token = mint(old, 7)
        assert check.verify(token) == 7
        keys.by_alg = StaticKeys(new.public_pem, ALGORITHMS).by_alg  # the key was rotated out
        assert check.known_user(token) is None
        with pytest.raises(InvalidToken):
            check.verify(token)

    def test_only_so_many_tokens_are_remembered(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("orders_service.token_verifier.VERIFIED_TOKENS", 2)
        key = ed25519_key()
        check = verifier(StaticKeys(key.public_pem, ALGORITHMS))
        first, second, third = (mint(key, n) for n in (1, 2, 3))
        for token in (first, second, third):
            check.verify(token)
        assert check.known_user(first) is None  # the oldest is forgotten
        assert (check.known_user(second), check.known_user(third)) == (2, 3)
