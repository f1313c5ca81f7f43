"""POST /token/ and GET /.well-known/jwks.json against the real database."""

from pathlib import Path

import jwt
import pytest
from httpx import AsyncClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.db.models import User
from auth_service.services.access_tokens import thumbprint
from tests.support import EMAIL, PASSWORD, AppFactory, ClientFactory, login, register, retired_key


async def _stored_cost(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        stored = (await conn.execute(select(User.password_hash))).scalar_one()
    return int(stored.split("$")[2])


class TestIssuedToken:
    async def test_token_verifies_with_the_published_jwks(self, client: AsyncClient) -> None:
        user_id = await register(client)

        response = await client.post("/token/", data={"username": EMAIL, "password": PASSWORD})

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 30 * 60
        token = body["access_token"]

        jwks = (await client.get("/.well-known/jwks.json")).json()
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "EdDSA"
        jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        public_key = jwt.PyJWK(jwk).key
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["EdDSA"],
            audience="orders-platform",
            issuer="orders-platform-auth",
            options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
        )
        assert claims["sub"] == str(user_id)
        assert claims["exp"] - claims["iat"] == 30 * 60
        assert len(claims["jti"]) >= 16

    async def test_each_token_has_its_own_jti(self, client: AsyncClient) -> None:
        await register(client)
        form = {"username": EMAIL, "password": PASSWORD}

        first = (await client.post("/token/", data=form)).json()["access_token"]
        second = (await client.post("/token/", data=form)).json()["access_token"]

        def jti(token: str) -> str:
            value: str = jwt.decode(token, options={"verify_signature": False})["jti"]
            return value

        assert jti(first) != jti(second)


class TestLogin:
    """Login finds the account as registration stored it, whatever the password's characters,
    and moves its hash to the configured cost."""

    async def test_login_ignores_the_email_case(self, client: AsyncClient) -> None:
        await register(client)

        response = await client.post(
            "/token/", data={"username": "ALICE@example.COM", "password": PASSWORD}
        )

        assert response.status_code == 200

    @pytest.mark.parametrize(
        "email",
        [
            "USER@xn--bcher-kva.de",
            "Ärger@Bücher.de",
            " spaced@example.com ",
            "Name <named@example.com>",
        ],
    )
    async def test_the_string_used_to_register_logs_in(
        self, client: AsyncClient, email: str
    ) -> None:
        """Login normalises the address with registration's own function (IDNA, Unicode, case)."""
        created = await client.post("/register/", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text

        response = await client.post("/token/", data={"username": email, "password": PASSWORD})

        assert response.status_code == 200, response.text

    async def test_non_ascii_password_works_end_to_end(self, client: AsyncClient) -> None:
        password = "pässwörd-密码-🔑"
        user_id = await register(client, password=password)

        token = await client.post("/token/", data={"username": EMAIL, "password": password})
        me = await client.get(
            "/users/me/", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )

        assert token.status_code == 200
        assert me.json()["id"] == user_id

    async def test_a_login_rehashes_a_password_of_another_cost(
        self, make_app: AppFactory, make_client: ClientFactory, cleanup_engine: AsyncEngine
    ) -> None:
        """After AUTH_BCRYPT_ROUNDS changes, old accounts move to the new cost at their next login,
        so that their failed logins cost as long as an unknown email's."""
        old = make_client(make_app(bcrypt_rounds=4))
        await register(old)
        new = make_client(make_app(bcrypt_rounds=5))

        assert (
            await new.post("/token/", data={"username": EMAIL, "password": "wrong pw!"})
        ).status_code == 401
        assert await _stored_cost(cleanup_engine) == 4  # only a successful login may rehash
        assert (
            await new.post("/token/", data={"username": EMAIL, "password": PASSWORD})
        ).status_code == 200
        assert await _stored_cost(cleanup_engine) == 5
        assert (
            await new.post("/token/", data={"username": EMAIL, "password": PASSWORD})
        ).status_code == 200


class TestRefusedLogin:
    async def test_a_username_that_is_no_email_is_a_plain_401(self, client: AsyncClient) -> None:
        response = await client.post(
            "/token/", data={"username": "not an email", "password": PASSWORD}
        )

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize(
        ("username", "password"),
        [
            (EMAIL, "wrong password"),
            ("nobody@example.com", PASSWORD),
            (EMAIL, PASSWORD + "x" * 60),  # 81 bytes: bcrypt 5 would raise on it
            ("nobody@example.com", "é" * 40),
        ],
        ids=["wrong-password", "unknown-email", "too-long", "unknown-and-too-long"],
    )
    async def test_bad_credentials_are_401_with_www_authenticate(
        self, client: AsyncClient, username: str, password: str
    ) -> None:
        await register(client)

        response = await client.post("/token/", data={"username": username, "password": password})

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "incorrect email or password"}

    async def test_inactive_user_cannot_log_in(
        self, client: AsyncClient, cleanup_engine: AsyncEngine
    ) -> None:
        user_id = await register(client)
        async with cleanup_engine.begin() as conn:
            await conn.execute(update(User).where(User.id == user_id).values(is_active=False))

        response = await client.post("/token/", data={"username": EMAIL, "password": PASSWORD})

        assert response.status_code == 401

    @pytest.mark.parametrize(
        "form",
        [{"username": EMAIL}, {"password": PASSWORD}, {"username": EMAIL, "password": ""}, {}],
        ids=["no-password", "no-username", "empty-password", "empty-form"],
    )
    async def test_missing_form_fields_are_422(
        self, client: AsyncClient, form: dict[str, str]
    ) -> None:
        response = await client.post("/token/", data=form)

        assert response.status_code == 422
        assert isinstance(response.json()["detail"], list)

    async def test_json_body_is_not_the_oauth2_form(self, client: AsyncClient) -> None:
        await register(client)

        response = await client.post("/token/", json={"username": EMAIL, "password": PASSWORD})

        assert response.status_code == 422


class TestJwks:
    async def test_jwks_lists_current_and_previous_keys(
        self, make_app: AppFactory, make_client: ClientFactory, tmp_path: Path
    ) -> None:
        retired, retired_file = retired_key(tmp_path)
        client = make_client(make_app(jwt_previous_public_keys_files=[retired_file]))

        response = await client.get("/.well-known/jwks.json")

        assert response.status_code == 200
        keys = response.json()["keys"]
        assert len(keys) == 2
        assert thumbprint(retired.public_key()) in {k["kid"] for k in keys}
        for key in keys:
            assert key["kty"] == "OKP"
            assert key["crv"] == "Ed25519"
            assert key["alg"] == "EdDSA"
            assert key["use"] == "sig"
            assert "d" not in key  # never the private part
        assert "max-age" in response.headers["cache-control"]


class TestOpenapi:
    async def test_openapi_declares_the_password_flow(self, client: AsyncClient) -> None:
        schema = (await client.get("/openapi.json")).json()

        schemes = schema["components"]["securitySchemes"]
        assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/token/"
        assert {"401", "422", "429"} <= set(schema["paths"]["/token/"]["post"]["responses"])
        assert {"201", "409", "422", "429"} <= set(
            schema["paths"]["/register/"]["post"]["responses"]
        )

    async def test_what_is_documented_is_what_is_answered(self, client: AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        token = paths["/token/"]["post"]["responses"]
        register_ = paths["/register/"]["post"]["responses"]
        me = paths["/users/me/"]["get"]["responses"]
        await register(client)

        taken = await client.post("/register/", json={"email": EMAIL, "password": PASSWORD})
        refused = await login(client, password="wrong password")

        assert taken.json()["detail"] == register_["409"]["description"]
        assert refused.json()["detail"] == token["401"]["description"]
        assert set(token["401"]["headers"]) == set(me["401"]["headers"]) == {"WWW-Authenticate"}
        assert set(token["429"]["headers"]) == set(register_["429"]["headers"]) == {"Retry-After"}
        assert token["422"]["description"] == "a form field is missing"
        assert register_["422"]["description"] == (
            "invalid email, or password not 8..72 bytes (UTF-8)"
        )
