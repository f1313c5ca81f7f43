"""The generated configuration of the cluster (`make dev-up brokers=3 replicas=2`): three
brokers, each its own ports, node id and data, all three controllers; two replicas of each
scaled service on their own ports, both behind the gateway."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from stack import kafka, nginx, postgres
from stack.postgres import Postgres
from stack.programs import Program, build
from stack.settings import Settings
from stack_control.topology import Topology, with_topology
from tests.support import MOVED_PORTS

CLUSTER = Topology(brokers=3, replicas=2)


@pytest.fixture
def cluster(settings: Settings) -> Settings:
    return replace(settings, topology=CLUSTER, env=with_topology(settings.env, CLUSTER))


@pytest.fixture
def cluster_programs(cluster: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, Program]:
    monkeypatch.setattr(postgres, "pg_bin", lambda tool: f"/usr/lib/postgresql/16/bin/{tool}")
    return build(cluster, Postgres(cluster))


def test_every_replica_is_a_program_in_start_order(cluster_programs: dict[str, Program]) -> None:
    assert tuple(cluster_programs) == CLUSTER.processes
    assert {"kafka-3", "auth-2", "orders-2", "relay-2", "consumer-2", "worker-2"} <= set(
        cluster_programs
    )


def test_the_three_brokers_are_one_quorum_each_with_its_own_ports_and_data(
    cluster: Settings,
) -> None:
    props = [kafka.server_properties(cluster, n) for n in (1, 2, 3)]
    assert [p["node.id"] for p in props] == ["1", "2", "3"]
    assert len({p["listeners"] for p in props}) == 3
    assert len({p["log.dirs"] for p in props}) == 3
    assert props[0]["log.dirs"] == str(cluster.stack_dir / "kafka" / "data")  # as one broker
    assert props[1]["log.dirs"] == str(cluster.stack_dir / "kafka-2" / "data")
    voters = props[0]["controller.quorum.voters"]
    assert voters.count("@") == 3 and all(p["controller.quorum.voters"] == voters for p in props)
    for name in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[0][name] == "3", name
    assert props[0]["min.insync.replicas"] == props[0]["transaction.state.log.min.isr"] == "2"


def test_one_broker_keeps_replication_factor_one(settings: Settings) -> None:
    props = kafka.server_properties(settings)
    assert props["offsets.topic.replication.factor"] == props["min.insync.replicas"] == "1"
    assert kafka.command(settings).startswith("java -Xms256m -Xmx768m ")


def test_every_port_of_the_cluster_is_its_own(cluster: Settings) -> None:
    ports = cluster.ports()
    assert len(ports) == 14  # 8 listeners, auth-2, orders-2, brokers 2 and 3 (two each)
    assert len(set(ports.values())) == len(ports)
    assert ports["KAFKA_3_PORT"] == int(MOVED_PORTS["KAFKA_PORT"]) + 4


def test_the_services_see_every_broker(cluster: Settings) -> None:
    servers = cluster.env["ORDERS_KAFKA_BOOTSTRAP_SERVERS"].split(",")
    assert servers == [f"127.0.0.1:{cluster.port('KAFKA', n)}" for n in (1, 2, 3)]
    assert cluster.env["PROCESSOR_KAFKA_BOOTSTRAP_SERVERS"] == ",".join(servers)


def test_each_worker_has_its_own_celery_node_name(cluster_programs: dict[str, Program]) -> None:
    assert "--hostname worker@%%h" in cluster_programs["worker"].command
    assert "--hostname worker-2@%%h" in cluster_programs["worker-2"].command


def test_the_gateway_fails_over_between_the_api_replicas(cluster: Settings) -> None:
    http = nginx.nginx_conf(cluster)
    for role in ("auth", "orders"):
        group = re.search(rf"upstream {role}_service {{(.*?)}}", http, re.S)
        assert group, http
        servers = re.findall(r"server 127\.0\.0\.1:(\d+) max_fails=1 fail_timeout=10s;", group[1])
        assert servers == [str(cluster.port(role.upper(), n)) for n in (1, 2)]
    template = (cluster.root / nginx.TEMPLATE).read_text()
    assert "proxy_next_upstream error timeout;" in template
    assert "non_idempotent" not in template.replace("no `non_idempotent`", "")
