"""Kafka in KRaft mode, one node as broker and controller, from the jars that install.sh fetched
into KAFKA_HOME: its server.properties, the storage format of a fresh data directory, and the
topics the services use (the broker creates none by itself)."""

from __future__ import annotations

import base64
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from .probes import tcp_open
from .settings import Settings
from .shell import run

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

log = logging.getLogger("stack")

TOPICS = {"new_order": 3, "new_order.dlq": 1}


def config_path(settings: Settings) -> Path:
    return settings.stack_dir / "kafka" / "server.properties"


def _log4j(settings: Settings) -> str:
    return f"-Dlog4j2.configurationFile={settings.root / 'infra/kafka/log4j2.properties'}"


def command(settings: Settings) -> str:
    return (
        f"java -Xms256m -Xmx768m -XX:+UseG1GC {_log4j(settings)} "
        f"-cp '{settings.kafka_home / 'libs'}/*' kafka.Kafka {config_path(settings)}"
    )


def server_properties(settings: Settings) -> dict[str, str]:
    kp, cp = settings.port("KAFKA"), settings.port("KAFKA_CONTROLLER")
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{cp}",
        "listeners": f"PLAINTEXT://127.0.0.1:{kp},CONTROLLER://127.0.0.1:{cp}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{kp}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(settings.stack_dir / "kafka" / "data"),
        "num.partitions": "3",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "min.insync.replicas": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "168",
    }


def write_config(settings: Settings) -> None:
    """server.properties at every `up`; a new cluster id and the storage format only for an
    empty data directory."""
    data = settings.stack_dir / "kafka" / "data"
    data.mkdir(parents=True, exist_ok=True)
    conf = config_path(settings)
    conf.write_text("".join(f"{k}={v}\n" for k, v in server_properties(settings).items()))
    if (data / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    storage_tool = ["-cp", f"{settings.kafka_home / 'libs'}/*", "kafka.tools.StorageTool"]
    run(
        settings,
        ["java", _log4j(settings), *storage_tool, "format", "-t", cluster_id, "-c", str(conf)],
    )


def _admin(settings: Settings) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": f"127.0.0.1:{settings.port('KAFKA')}"})


def ready(settings: Settings) -> bool:
    if not tcp_open(settings.port("KAFKA")):
        return False
    try:
        _admin(settings).list_topics(timeout=3)
    except Exception:
        return False
    return True


def ensure_topics(settings: Settings) -> None:
    from confluent_kafka.cimpl import NewTopic

    admin = _admin(settings)
    existing = admin.list_topics(timeout=10).topics
    missing = [
        NewTopic(name, num_partitions=parts, replication_factor=1)
        for name, parts in TOPICS.items()
        if name not in existing
    ]
    for name, future in admin.create_topics(missing).items() if missing else []:
        future.result(timeout=30)
        log.info("created topic %s", name)
