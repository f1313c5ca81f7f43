"""The stack's settings, read once per command (never at import): where the repository, the
stack's state and the Kafka jars are, and the configuration every process sees: `.env.example`,
overridden by `.env`, overridden by the environment (`stack_control.env.load_env`).

State (data, logs, generated configuration) lives in $STACK_DIR (default: <repo>/.stack,
git-ignored); a second stack needs only another STACK_DIR and other `*_PORT` values.

The topology (one broker or three, one replica or two: `stack_control.topology`) is the one the
running stack's `up` recorded; `up` itself takes STACK_BROKERS / STACK_REPLICAS when given.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from stack_control import topology as topologies
from stack_control.env import load_env
from stack_control.topology import Topology

ROOT = Path(__file__).resolve().parents[3]
# Every port the stack listens on, each a `<NAME>_PORT` setting.
PORTS = ("GATEWAY", "AUTH", "ORDERS", "PROCESSOR", "POSTGRES", "REDIS", "KAFKA", "KAFKA_CONTROLLER")
# the listeners of roles that run more than once, and the role each belongs to
REPLICATED_PORTS = {
    "AUTH": "auth",
    "ORDERS": "orders",
    "KAFKA": "kafka",
    "KAFKA_CONTROLLER": "kafka",
}


@dataclass(frozen=True)
class Settings:
    root: Path
    env: dict[str, str]
    stack_dir: Path
    kafka_home: Path
    is_root: bool
    topology: Topology = field(default_factory=Topology)

    @property
    def venv_bin(self) -> Path:
        return self.root / ".venv" / "bin"

    @property
    def logs(self) -> Path:
        return self.stack_dir / "logs"

    def port(self, name: str, replica: int = 1) -> int:
        return topologies.port(self.env, name, replica)

    def ports(self) -> dict[str, int]:
        """Every port this topology listens on, by its setting's name."""
        found = {}
        for name in PORTS:
            count = self.topology.count(REPLICATED_PORTS.get(name, ""))
            for n in range(1, count + 1):
                found[f"{name}_{n}_PORT" if n > 1 else f"{name}_PORT"] = self.port(name, n)
        return found

    @property
    def digest(self) -> str:
        """A short name for this stack, from its STACK_DIR: two stacks, two names."""
        return uuid.uuid5(uuid.NAMESPACE_URL, str(self.stack_dir)).hex[:12]

    @property
    def socket_root(self) -> Path:
        """Unix sockets (supervisor's, PostgreSQL's) live under a short path in /tmp: a socket
        path must stay under ~107 bytes, however deep the repository is checked out."""
        return Path(tempfile.gettempdir()) / f"orders-stack-{self.digest}"


def kafka_version(root: Path) -> str:
    """One place for the version: the POM that fetches the jars (install.sh reads it too)."""
    found = re.search(
        r"<kafka.version>(.+?)</kafka.version>", (root / "infra/kafka/pom.xml").read_text()
    )
    if not found:
        raise RuntimeError("infra/kafka/pom.xml has no <kafka.version>")
    return found.group(1)


def load(root: Path = ROOT, *, requested: bool = False) -> Settings:
    """The settings of the running stack; with `requested`, of the topology asked for in
    STACK_BROKERS / STACK_REPLICAS (for `up`), else of the recorded one."""
    env = load_env(root)
    stack_dir = topologies.stack_dir(env, root)
    topology = topologies.current(env, root)
    if requested:
        topology = topologies.requested(env) or topology
    if "KAFKA_HOME" in env:
        kafka_home = Path(env["KAFKA_HOME"])
    else:
        kafka_home = Path.home() / ".cache" / "orders-stack" / f"kafka-{kafka_version(root)}"
    env = topologies.with_topology(env, topology)
    return Settings(root, env, stack_dir, kafka_home, os.geteuid() == 0, topology)
