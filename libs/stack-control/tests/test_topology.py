"""The topology: which processes a name means, replicas' ports, what `up` recorded, and the
bootstrap lists the processes see with three brokers."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack_control.processes import NAMES
from stack_control.topology import (
    Topology,
    current,
    port,
    record,
    requested,
    with_topology,
)

CLUSTER = Topology(brokers=3, replicas=2)
ENV = {"KAFKA_PORT": "9092", "KAFKA_CONTROLLER_PORT": "9093", "ORDERS_PORT": "8002"}


def test_the_default_topology_is_todays_processes() -> None:
    assert Topology().processes == NAMES
    assert all(Topology().resolve(name) == (name,) for name in NAMES)


def test_a_role_means_every_replica_and_a_replica_itself() -> None:
    assert CLUSTER.resolve("kafka") == ("kafka", "kafka-2", "kafka-3")
    assert CLUSTER.resolve("kafka-1") == ("kafka",)
    assert CLUSTER.resolve("kafka-3") == ("kafka-3",)
    assert CLUSTER.resolve("worker") == ("worker", "worker-2")
    assert CLUSTER.resolve("processor") == ("processor",)  # one processor API
    assert CLUSTER.processes[:5] == ("postgres", "redis", "kafka", "kafka-2", "kafka-3")
    assert CLUSTER.processes[-1] == "gateway"


@pytest.mark.parametrize("name", ["kafka-4", "orders-3", "gateway-2", "nginx"])
def test_a_replica_the_topology_does_not_run_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown process"):
        CLUSTER.resolve(name)


def test_only_one_or_three_brokers_and_one_or_two_replicas() -> None:
    with pytest.raises(ValueError, match="brokers=2"):
        Topology(brokers=2)
    with pytest.raises(ValueError, match="replicas=3"):
        Topology(replicas=3)


def test_replica_ports_are_moved_by_a_step_unless_set() -> None:
    assert [port(ENV, "KAFKA", n) for n in (1, 2, 3)] == [9092, 9094, 9096]
    assert [port(ENV, "KAFKA_CONTROLLER", n) for n in (1, 2, 3)] == [9093, 9095, 9097]
    assert port(ENV, "ORDERS", 2) == 8012
    assert port({**ENV, "ORDERS_2_PORT": "9912"}, "ORDERS", 2) == 9912


def test_with_three_brokers_the_services_know_every_broker() -> None:
    one = {**ENV, "ORDERS_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}
    assert with_topology(one, Topology()) == one
    env = with_topology(one, CLUSTER)
    servers = "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert env["ORDERS_KAFKA_BOOTSTRAP_SERVERS"] == env["PROCESSOR_KAFKA_BOOTSTRAP_SERVERS"]
    assert env["ORDERS_KAFKA_BOOTSTRAP_SERVERS"] == servers


def test_what_up_recorded_wins_over_the_environment(tmp_path: Path) -> None:
    env = {"STACK_DIR": str(tmp_path), "STACK_BROKERS": "3"}
    assert requested(env) == Topology(brokers=3, replicas=1)
    assert requested({}) is None
    assert current(env, tmp_path) == Topology(brokers=3)  # nothing recorded yet
    record(tmp_path, CLUSTER)
    assert current({"STACK_DIR": str(tmp_path)}, tmp_path) == CLUSTER
    assert current({**env, "STACK_BROKERS": "1"}, tmp_path) == CLUSTER


def test_under_compose_a_file_of_the_native_stack_is_ignored(tmp_path: Path) -> None:
    record(tmp_path, Topology())  # a native one-broker stack ran from this checkout
    compose = {"STACK_DIR": str(tmp_path), "STACK_CONTROLLER": "compose"}
    assert current({**compose, "STACK_BROKERS": "3", "STACK_REPLICAS": "2"}, tmp_path) == CLUSTER
    assert current(compose, tmp_path) == Topology()
