"""How many of each process the stack runs: one Kafka broker or a cluster of three, one or two
replicas of the services that scale (`make dev-up brokers=3 replicas=2`).

`up` records the topology in $STACK_DIR/topology.json; every later command (status, stop,
kill, the tests through stack_control) reads it from there, so they all see the stack that was
started. Under compose, where nothing is recorded, STACK_BROKERS and STACK_REPLICAS say it.

Names. The first replica of a role keeps the role's name (`kafka`, `orders`), the others are
`<role>-<n>` (`kafka-2`, `orders-2`): the default topology has exactly today's processes. A role
name given to stop, start, kill, freeze or log_text means every replica of the role (Kafka
stopped is every broker stopped); `<role>-<n>` means that replica alone, `<role>-1` the first.

Ports. Replica n of a listener listens on `<NAME>_<n>_PORT` when that is set, else on its
`<NAME>_PORT` moved by (n - 1) steps: 10 for the HTTP services, 2 for Kafka's listeners (so
broker 2 takes 9094 and 9095, broker 3 9096 and 9097).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from stack_control.env import load_env
from stack_control.processes import NAMES, SERVERS, SERVICES

FILE = "topology.json"
# the roles that run `replicas` times; Kafka runs `brokers` times, the rest once
REPLICATED = ("auth", "orders", "relay", "consumer", "worker")
ALLOWED = {"brokers": (1, 3), "replicas": (1, 2)}
PORT_STEP = {"KAFKA": 2, "KAFKA_CONTROLLER": 2}
BOOTSTRAP_NAMES = ("ORDERS_KAFKA_BOOTSTRAP_SERVERS", "PROCESSOR_KAFKA_BOOTSTRAP_SERVERS")
_REPLICA = re.compile(r"^(?P<role>[a-z]+)-(?P<n>[1-9][0-9]*)$")


def replica_name(role: str, n: int) -> str:
    return role if n == 1 else f"{role}-{n}"


def is_name(name: str) -> bool:
    """A role (`kafka`) or one replica of it (`kafka-2`), whatever the topology."""
    found = _REPLICA.match(name)
    return name in NAMES or bool(found and found.group("role") in NAMES)


@dataclass(frozen=True)
class Topology:
    brokers: int = 1
    replicas: int = 1

    def __post_init__(self) -> None:
        for field, allowed in ALLOWED.items():
            if getattr(self, field) not in allowed:
                raise ValueError(f"{field}={getattr(self, field)}: one of {allowed}")

    @property
    def is_default(self) -> bool:
        return self == Topology()

    def count(self, role: str) -> int:
        if role == "kafka":
            return self.brokers
        return self.replicas if role in REPLICATED else 1

    def replicas_of(self, role: str) -> tuple[str, ...]:
        return tuple(replica_name(role, n) for n in range(1, self.count(role) + 1))

    @property
    def servers(self) -> tuple[str, ...]:
        return tuple(name for role in SERVERS for name in self.replicas_of(role))

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(name for role in SERVICES for name in self.replicas_of(role))

    @property
    def processes(self) -> tuple[str, ...]:
        """Every process, servers first, each role's replicas together, in start order."""
        return self.servers + self.services

    def resolve(self, name: str) -> tuple[str, ...]:
        """The processes a name means: every replica of a role, or the one replica named."""
        if name in NAMES:
            return self.replicas_of(name)
        found = _REPLICA.match(name)
        if found and found.group("role") in NAMES:
            role, n = found.group("role"), int(found.group("n"))
            if n <= self.count(role):
                return (replica_name(role, n),)
        raise ValueError(f"unknown process {name!r}; one of: {', '.join(self.processes)}")


def stack_dir(env: Mapping[str, str], root: Path) -> Path:
    return Path(env.get("STACK_DIR", str(root / ".stack"))).resolve()


def recorded(directory: Path) -> Topology | None:
    path = directory / FILE
    return Topology(**json.loads(path.read_text())) if path.exists() else None


def record(directory: Path, topology: Topology) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / FILE).write_text(json.dumps(asdict(topology)) + "\n")


def requested(env: Mapping[str, str]) -> Topology | None:
    """STACK_BROKERS / STACK_REPLICAS (from `make dev-up brokers=3 replicas=2`), if either is
    set; the other one is then 1."""
    brokers, replicas = env.get("STACK_BROKERS", ""), env.get("STACK_REPLICAS", "")
    if not (brokers or replicas):
        return None
    return Topology(int(brokers or 1), int(replicas or 1))


def current(env: Mapping[str, str], root: Path) -> Topology:
    """The running stack's topology: natively recorded by its `up`, else the environment's,
    else one of each. Under compose (STACK_CONTROLLER=compose) the environment's only: a file
    the native stack left says nothing of the containers."""
    native = env.get("STACK_CONTROLLER", "native") != "compose"
    return (native and recorded(stack_dir(env, root))) or requested(env) or Topology()


def port(env: Mapping[str, str], name: str, n: int = 1) -> int:
    """Replica n's port of the listener `name` (AUTH, KAFKA, KAFKA_CONTROLLER, ...)."""
    if n > 1 and f"{name}_{n}_PORT" in env:
        return int(env[f"{name}_{n}_PORT"])
    return int(env[f"{name}_PORT"]) + PORT_STEP.get(name, 10) * (n - 1)


def bootstrap_servers(env: Mapping[str, str], topology: Topology) -> str:
    return ",".join(f"127.0.0.1:{port(env, 'KAFKA', n)}" for n in range(1, topology.brokers + 1))


def with_topology(env: Mapping[str, str], topology: Topology) -> dict[str, str]:
    """What the processes see: with more than one broker, every broker in the services'
    bootstrap lists (a client that knows one broker only cannot start while that one is
    down). One broker: the configuration as it is."""
    if topology.brokers == 1:
        return dict(env)
    servers = bootstrap_servers(env, topology)
    return {**env, **dict.fromkeys(BOOTSTRAP_NAMES, servers)}


def stack_env(root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`load_env` completed with the running stack's topology: what its processes see."""
    env = load_env(root, os.environ if environ is None else environ)
    return with_topology(env, current(env, root))
