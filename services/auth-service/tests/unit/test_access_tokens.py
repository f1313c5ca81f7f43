"""Keys, kid, claims and verification, without a server."""

import base64
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auth_service.services.access_tokens import (
    DEV_KEY_FILE,
    KeyRing,
    TokenService,
    build_claims,
    ensure_dev_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_jwk,
    public_key_pem,
    thumbprint,
)
from service_kit.tokens import InvalidToken

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def service(key: Ed25519PrivateKey, **overrides: object) -> TokenService:
    values: dict[str, object] = {
        "issuer": "orders-platform-auth",
        "audience": "orders-platform",
        "lifetime": timedelta(minutes=30),
    }
    values.update(overrides)
    return TokenService(KeyRing.build(key), **values)  # type: ignore[arg-type]


class TestKeys:
    def test_kid_is_the_rfc7638_thumbprint(self) -> None:
        # RFC 8037, appendix A.2/A.3: the public key and its JWK SHA-256 thumbprint
        x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "="))

        assert thumbprint(key) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        assert public_jwk(key) == {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
            "alg": "EdDSA",
            "use": "sig",
        }

    def test_private_key_loads_from_pem_also_with_escaped_newlines(self) -> None:
        key = Ed25519PrivateKey.generate()
        pem = private_key_pem(key).decode()
        one_line = pem.strip().replace("\n", "\\n")

        for text in (pem, one_line, pem.encode()):
            loaded = load_private_key(text)
            assert thumbprint(loaded.public_key()) == thumbprint(key.public_key())

    def test_public_key_loads_from_a_public_or_a_private_pem(self) -> None:
        key = Ed25519PrivateKey.generate()

        from_public = load_public_key(public_key_pem(key.public_key()))
        from_private = load_public_key(private_key_pem(key))

        assert thumbprint(from_public) == thumbprint(from_private) == thumbprint(key.public_key())

    @pytest.mark.parametrize(
        "pem",
        [
            b"not a pem",
            _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            _pem(ec.generate_private_key(ec.SECP256R1())),
        ],
        ids=["garbage", "rsa", "ec"],
    )
    def test_keys_of_another_kind_are_refused(self, pem: bytes) -> None:
        with pytest.raises(ValueError):
            load_private_key(pem)
        with pytest.raises(ValueError):
            load_public_key(pem)

    def test_dev_key_is_generated_once_with_private_modes(self, tmp_path: Path) -> None:
        key_dir = tmp_path / "secrets" / "auth"

        first = ensure_dev_key(key_dir)
        again = ensure_dev_key(key_dir)

        path = key_dir / DEV_KEY_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
        assert thumbprint(first.public_key()) == thumbprint(again.public_key())
        assert [p.name for p in key_dir.iterdir()] == [DEV_KEY_FILE]  # no temporary file left

    def test_key_ring_holds_current_and_previous_keys_by_kid(self) -> None:
        current, old = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()

        ring = KeyRing.build(current, [old.public_key(), current.public_key()])

        assert ring.kid == thumbprint(current.public_key())
        assert list(ring.public_keys) == [ring.kid, thumbprint(old.public_key())]


class TestClaims:
    def test_claims(self) -> None:
        claims = build_claims(
            42, issuer="iss", audience="aud", now=NOW, lifetime=timedelta(minutes=30), jti="j"
        )

        iat = int(NOW.timestamp())
        assert claims == {
            "sub": "42",
            "iss": "iss",
            "aud": "aud",
            "iat": iat,
            "exp": iat + 1800,
            "jti": "j",
        }
        generated = build_claims(
            1, issuer="i", audience="a", now=NOW, lifetime=timedelta(minutes=1)
        )
        assert len(generated["jti"]) == 32

    @pytest.mark.parametrize("user_id", [0, -1, 2**63])
    def test_claims_are_only_made_for_a_user_id(self, user_id: int) -> None:
        with pytest.raises(ValueError, match="not a user id"):
            build_claims(user_id, issuer="i", audience="a", now=NOW, lifetime=timedelta(minutes=1))


class TestTokenService:
    def test_issued_token_has_the_kid_header_and_verifies(self) -> None:
        key = Ed25519PrivateKey.generate()
        tokens = service(key)

        issued = tokens.issue(7)

        assert issued.expires_in == 1800
        header = jwt.get_unverified_header(issued.access_token)
        assert header["alg"] == "EdDSA"
        assert header["kid"] == thumbprint(key.public_key())
        assert tokens.verify(issued.access_token) == 7

    def test_verify_refuses_tokens_made_for_someone_else(self) -> None:
        key = Ed25519PrivateKey.generate()
        tokens = service(key)
        expired = tokens.issue(7, now=datetime.now(UTC) - timedelta(minutes=31)).access_token
        other_aud = service(key, audience="x").issue(7).access_token
        other_iss = service(key, issuer="x").issue(7).access_token
        other_key = service(Ed25519PrivateKey.generate()).issue(7).access_token

        for token in (expired, other_aud, other_iss, other_key, "", "a.b.c"):
            with pytest.raises(InvalidToken):
                tokens.verify(token)

    def test_verify_tolerates_a_little_clock_skew(self) -> None:
        key = Ed25519PrivateKey.generate()
        tokens = service(key)
        slightly_ahead = tokens.issue(7, now=datetime.now(UTC) + timedelta(seconds=5))

        assert tokens.verify(slightly_ahead.access_token) == 7

    def test_jwks_has_one_public_entry_per_key(self) -> None:
        current, old = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        tokens = TokenService(
            KeyRing.build(current, [old.public_key()]),
            issuer="i",
            audience="a",
            lifetime=timedelta(minutes=1),
        )

        jwks = tokens.jwks()

        assert [k["kid"] for k in jwks["keys"]] == [
            thumbprint(current.public_key()),
            thumbprint(old.public_key()),
        ]
        for jwk in jwks["keys"]:  # public members only: never "d"
            assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
