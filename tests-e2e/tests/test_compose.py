"""What only the compose stack has (run with STACK_CONTROLLER=compose, as `make test-compose`
does): the settings of .env.example with the same effect, the test databases, a gateway that
finds recreated services again, and a production-like start with docker-compose.prod.yml."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from stack_control import compose, container_id, docker, topology, under_compose
from stack_control.env import example_names
from stack_control.waiting import eventually
from tests.clients import ITEMS, ROOT, Stack, User

pytestmark = [
    pytest.mark.skipif(not under_compose(), reason="the compose stack only (make test-compose)"),
    pytest.mark.timeout(600),
]

# The containers of each service, and the values that are addresses: inside the network the
# hosts are postgres, redis, kafka, auth and gateway (docker-compose.yml's "address" lines).
CONTAINERS = {
    "AUTH_": ("auth", "auth-migrate"),
    "ORDERS_": ("orders", "relay", "orders-migrate"),
    "PROCESSOR_": ("processor", "consumer", "worker", "processor-migrate"),
}
IN_NETWORK = {
    "POSTGRES_PORT": "postgres:5432",
    "REDIS_PORT": "redis:6379",
    "KAFKA_PORT": "kafka:9092",
    "AUTH_PORT": "auth:8001",
}
CONTAINER_VALUES = {
    "AUTH_TRUSTED_PROXIES": '["gateway"]',
    "ORDERS_TRUSTED_PROXIES": '["gateway"]',
    "AUTH_JWT_KEY_DIR": "/var/lib/app/jwt",
}
# Set by compose although .env.example only describes them (commented out), or compose-only.
OPTIONAL = {"AUTH_JWT_PRIVATE_KEY", "AUTH_JWT_PRIVATE_KEY_FILE"}
COMPOSE_ONLY = {"ORDERS_HEARTBEAT_FILE", "PROCESSOR_HEARTBEAT_FILE"}


def _run(
    *args: str, check: bool = True, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        compose(*args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"docker compose {' '.join(args)}: {result.returncode}\n{result.stderr[-3000:]}"
        )
    return result


def _config() -> dict[str, Any]:
    return dict(json.loads(_run("config", "--format", "json").stdout))


def _in_network(value: str, env: dict[str, str]) -> str:
    for port, target in IN_NETWORK.items():
        value = value.replace(f"127.0.0.1:{env[port]}", target)
    for n in (2, 3):  # the cluster's other brokers (docker-compose.cluster.yml)
        value = value.replace(f"127.0.0.1:{topology.port(env, 'KAFKA', n)}", f"kafka-{n}:9092")
    return value


def test_every_setting_of_env_example_has_the_same_value_under_compose(stack: Stack) -> None:
    env, services = stack.env, _config()["services"]
    for prefix, containers in CONTAINERS.items():
        names = {
            n for n in example_names(ROOT, prefix) if not n.endswith(("_PORT", "_DB_PASSWORD"))
        }
        if prefix == "PROCESSOR_":
            names |= example_names(ROOT, "ORDER_")
        for container in containers:
            actual = services[container]["environment"]
            expected = {n: CONTAINER_VALUES.get(n) or _in_network(env[n], env) for n in names}
            assert {n: actual.get(n) for n in names} == expected, container
            assert {n: actual[n] for n in OPTIONAL & set(actual)} == {
                n: env.get(n, "") for n in OPTIONAL & set(actual)
            }
            assert set(actual) - names - OPTIONAL - COMPOSE_ONLY == set(), container


def test_ports_passwords_and_network_follow_env_example(stack: Stack) -> None:
    env, config = stack.env, _config()
    services = config["services"]
    published = {
        name: [(p.get("host_ip"), int(p["published"])) for p in s.get("ports", [])]
        for name, s in services.items()
    }
    assert published["gateway"] == [(env["GATEWAY_BIND"], int(env["GATEWAY_PORT"]))]
    for name, var in (
        ("auth", "AUTH_PORT"),
        ("orders", "ORDERS_PORT"),
        ("processor", "PROCESSOR_PORT"),
        ("postgres", "POSTGRES_PORT"),
        ("redis", "REDIS_PORT"),
        ("kafka", "KAFKA_PORT"),
    ):
        assert published[name] == [("127.0.0.1", int(env[var]))], name
    pg = services["postgres"]["environment"]
    for var in (
        "POSTGRES_PASSWORD",
        "AUTH_DB_PASSWORD",
        "ORDERS_DB_PASSWORD",
        "PROCESSOR_DB_PASSWORD",
    ):
        assert pg[var] == env[var], var
    # no fixed subnet to collide with the machine's networks
    assert not config.get("networks", {}).get("default", {}).get("ipam", {}).get("config")


def test_each_service_has_its_test_database(stack: Stack) -> None:
    for prefix in ("AUTH", "ORDERS", "PROCESSOR"):
        url = stack.database(prefix)
        with psycopg.connect(f"{url}_test", connect_timeout=3) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (
                f"{url.rsplit('/', 1)[1]}_test",
            )


def _address(container: str) -> str:
    return docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container
    )


def _rebuild_at_new_addresses(services: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """Rebuild and recreate `services`; while they are gone, placeholder containers take their
    old addresses (as many as it takes: freed addresses are handed out again), so the new
    containers surely get others, and the gateway must look the names up again."""
    old = {service: container_id(service) for service in services}
    before = {service: _address(container) for service, container in old.items()}
    network = docker(
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}",
        old[services[0]],
    )
    image = docker("inspect", "-f", "{{.Config.Image}}", old[services[0]])
    _run("rm", "--stop", "--force", *services)
    holders: list[str] = []
    try:
        held: set[str] = set()
        while not set(before.values()) <= held and len(holders) < 30:
            holders.append(
                docker(
                    "run", "--detach", "--network", network, "--entrypoint", "sleep", image, "600"
                )
            )
            held.add(_address(holders[-1]))
        _run("up", "--build", "--detach", "--no-deps", "--wait", *services)
    finally:
        if holders:
            docker("rm", "--force", *holders)
    return {service: (before[service], _address(container_id(service))) for service in services}


def test_the_gateway_finds_rebuilt_auth_and_orders_again(
    stack: Stack, http: httpx.Client, alice: User
) -> None:
    for service, (before, after) in _rebuild_at_new_addresses(("auth", "orders")).items():
        assert before != after, f"{service} kept its address {before}"

    email = f"rebuilt-{uuid.uuid4().hex[:8]}@example.com"

    def registered() -> bool:
        answer = http.post(
            f"{stack.gateway}/register/", json={"email": email, "password": "pw-" + "x" * 10}
        )
        return answer.status_code == 201

    # nginx keeps a looked-up address for 5 s (valid=5s)
    def read_back() -> bool:
        created = http.post(f"{stack.gateway}/orders/", json={"items": ITEMS}, headers=alice.auth)
        if created.status_code != 201:
            return False
        read = http.get(f"{stack.gateway}/orders/{created.json()['id']}/", headers=alice.auth)
        return read.status_code == 200

    # nginx keeps a looked-up address for 5 s (valid=5s)
    eventually(registered, 20, "the gateway reaches the rebuilt auth container")
    eventually(read_back, 20, "the gateway reaches the rebuilt orders container")


def _prod(
    *args: str, env_file: Path, extra: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """docker compose for a second project with the prod override, configured by `env_file`
    alone: the variables this test process has from .env.example would win over it."""
    files = ["-f", "docker-compose.yml", "-f", "docker-compose.prod.yml", "-f", str(extra)]
    names = example_names(ROOT, "")
    env = {k: v for k, v in os.environ.items() if k not in names}
    result = _run(
        "-p", "orders-prodcheck", *files, "--env-file", str(env_file), *args, check=False, env=env
    )
    if check and result.returncode != 0:
        logs = _run("-p", "orders-prodcheck", *files, "logs", "--tail", "20", check=False, env=env)
        pytest.fail(
            f"{' '.join(args)}: {result.returncode}\n{result.stderr[-2000:]}\n{logs.stdout}"
        )
    return result


def test_a_production_like_start_with_a_key_secret_and_passwords_from_env(tmp_path: Path) -> None:
    key = tmp_path / "auth-jwt.pem"
    subprocess.run(["bash", str(ROOT / "infra/docker/jwt-key.sh"), str(key)], check=True)
    # Its own project: no published ports (the running stack holds them), its own volumes.
    no_ports = tmp_path / "no-ports.yml"
    no_ports.write_text(
        "services:\n"
        + "".join(
            f"  {s}:\n    ports: !reset []\n" for s in ("postgres", "redis", "auth", "orders")
        )
    )
    weak = tmp_path / "weak.env"
    weak.write_text(f"AUTH_JWT_KEY_SECRET={key}\n")
    strong = tmp_path / "prod.env"
    strong.write_text(
        f"AUTH_JWT_KEY_SECRET={key}\n"
        + "".join(
            f"{name}={secrets.token_hex(16)}\n"
            for name in (
                "POSTGRES_PASSWORD",
                "AUTH_DB_PASSWORD",
                "ORDERS_DB_PASSWORD",
                "PROCESSOR_DB_PASSWORD",
            )
        )
    )
    try:
        # prod refuses the development passwords before it touches the database
        refused = _prod(
            "run", "--rm", "--no-deps", "auth-migrate", env_file=weak, extra=no_ports, check=False
        )
        assert refused.returncode != 0
        assert "development default" in refused.stdout + refused.stderr

        _prod(
            "up",
            "--detach",
            "--wait",
            "--wait-timeout",
            "240",
            "auth",
            "orders",
            env_file=strong,
            extra=no_ports,
        )
        jwks = _prod(
            "exec",
            "-T",
            "auth",
            "python",
            "-c",
            "import urllib.request; print(urllib.request.urlopen("
            "'http://127.0.0.1:8001/.well-known/jwks.json', timeout=5).read().decode())",
            env_file=strong,
            extra=no_ports,
        )
        private = load_pem_private_key(key.read_bytes(), password=None)
        public = private.public_key().public_bytes_raw()  # type: ignore[union-attr]
        published = [k["x"] for k in json.loads(jwks.stdout)["keys"]]
        assert published == [base64.urlsafe_b64encode(public).rstrip(b"=").decode()]
    finally:
        _prod("down", "--volumes", "--remove-orphans", env_file=strong, extra=no_ports, check=False)
