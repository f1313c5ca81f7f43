"""Kafka in KRaft mode from the jars that install.sh fetched into KAFKA_HOME: one node as broker
and controller, or (`brokers=3`) three such nodes whose controllers form the quorum. Each
broker's server.properties, the storage format of a fresh data directory, and the topics the
services use (the broker creates none by itself).

Broker n is the program `kafka` (n = 1) or `kafka-<n>`, node.id n, its files in
$STACK_DIR/kafka (n = 1) or $STACK_DIR/kafka-<n>. With three brokers every replication factor
is 3 and the minimum in-sync replicas 2: a write acknowledged by `acks=all` is on two brokers at
least, and one broker lost loses nothing and stops nothing.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from stack_control.topology import bootstrap_servers, replica_name

from .probes import tcp_open
from .settings import Settings
from .shell import run

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

log = logging.getLogger("stack")

# partitions of each topic, for one broker and for the cluster
TOPICS = {"new_order": 3, "new_order.dlq": 1}
CLUSTER_TOPICS = {"new_order": 6, "new_order.dlq": 1}


def brokers(settings: Settings) -> range:
    return range(1, settings.topology.brokers + 1)


def home(settings: Settings, n: int = 1) -> Path:
    return settings.stack_dir / replica_name("kafka", n)


def config_path(settings: Settings, n: int = 1) -> Path:
    return home(settings, n) / "server.properties"


def _log4j(settings: Settings) -> str:
    return f"-Dlog4j2.configurationFile={settings.root / 'infra/kafka/log4j2.properties'}"


def command(settings: Settings, n: int = 1) -> str:
    # three JVMs on one machine: each a smaller heap
    heap = "-Xms256m -Xmx768m" if settings.topology.brokers == 1 else "-Xms128m -Xmx512m"
    return (
        f"java {heap} -XX:+UseG1GC {_log4j(settings)} "
        f"-cp '{settings.kafka_home / 'libs'}/*' kafka.Kafka {config_path(settings, n)}"
    )


def server_properties(settings: Settings, n: int = 1) -> dict[str, str]:
    kp, cp = settings.port("KAFKA", n), settings.port("KAFKA_CONTROLLER", n)
    voters = ",".join(
        f"{i}@127.0.0.1:{settings.port('KAFKA_CONTROLLER', i)}" for i in brokers(settings)
    )
    rf = str(settings.topology.brokers)  # 1 or 3
    min_isr = "1" if settings.topology.brokers == 1 else "2"
    return {
        "process.roles": "broker,controller",
        "node.id": str(n),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{kp},CONTROLLER://127.0.0.1:{cp}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{kp}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(home(settings, n) / "data"),
        "num.partitions": "3",
        "default.replication.factor": rf,
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": min_isr,
        "min.insync.replicas": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "168",
    }


def _cluster_id(settings: Settings) -> str:
    """The id of the brokers already formatted (a broker whose data was removed joins them
    again), or a new one."""
    for n in brokers(settings):
        meta = home(settings, n) / "data" / "meta.properties"
        if meta.exists():
            for line in meta.read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1]
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def write_config(settings: Settings) -> None:
    """server.properties at every `up`; the storage format only for an empty data directory."""
    cluster_id = _cluster_id(settings)
    for n in brokers(settings):
        data = home(settings, n) / "data"
        data.mkdir(parents=True, exist_ok=True)
        conf = config_path(settings, n)
        properties = server_properties(settings, n)
        conf.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        if (data / "meta.properties").exists():
            continue
        storage_tool = ["-cp", f"{settings.kafka_home / 'libs'}/*", "kafka.tools.StorageTool"]
        run(
            settings,
            ["java", _log4j(settings), *storage_tool, "format", "-t", cluster_id, "-c", str(conf)],
        )


def formatted_brokers(settings: Settings) -> int:
    """How many voters the first broker's data was formatted with (0: not formatted yet)."""
    conf = config_path(settings)
    if not (home(settings) / "data" / "meta.properties").exists() or not conf.exists():
        return 0
    for line in conf.read_text().splitlines():
        if line.startswith("controller.quorum.voters="):
            return line.count("@")
    return 0


def _admin(settings: Settings, servers: str | None = None) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    every = bootstrap_servers(settings.env, settings.topology)
    return AdminClient({"bootstrap.servers": servers or every})


def ready(settings: Settings, n: int = 1) -> bool:
    port = settings.port("KAFKA", n)
    if not tcp_open(port):
        return False
    try:
        _admin(settings, f"127.0.0.1:{port}").list_topics(timeout=3)
    except Exception:
        return False
    return True


def ensure_topics(settings: Settings) -> None:
    """Create the topics that are missing. A cluster's topics need every broker registered:
    until the controller has seen all three, creation is retried."""
    from confluent_kafka import KafkaException
    from confluent_kafka.cimpl import NewTopic

    clustered = settings.topology.brokers > 1
    partitions = CLUSTER_TOPICS if clustered else TOPICS
    config = {"min.insync.replicas": "2"} if clustered else {}
    admin = _admin(settings)
    deadline = time.monotonic() + 60
    while True:
        existing = admin.list_topics(timeout=10).topics
        missing = [
            NewTopic(name, parts, settings.topology.brokers, config=config)
            for name, parts in partitions.items()
            if name not in existing
        ]
        if not missing:
            return
        try:
            for name, future in admin.create_topics(missing).items():
                future.result(timeout=30)
                log.info("created topic %s", name)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
