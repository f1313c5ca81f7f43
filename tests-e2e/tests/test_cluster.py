"""The stack at scale (`make dev-up brokers=3 replicas=2`, `make test-cluster`): three Kafka
brokers with every partition on all three, two replicas of each service, and a chaos run that
SIGKILLs the broker leading most `new_order` partitions (and one replica of the API, the relay,
the consumer and the worker): every accepted order processed once, each key's events in order
in one partition, and no retry answered by the gateway for want of a replica.

Skipped on a stack of one broker."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from tests.chaos import run
from tests.clients import Stack

pytestmark = pytest.mark.skipif(
    Stack.from_settings().topology.brokers < 3 or Stack.from_settings().topology.replicas < 2,
    reason="needs the cluster: make dev-up brokers=3 replicas=2",
)


def test_every_partition_is_on_three_brokers_and_needs_two_in_sync(stack: Stack) -> None:
    admin = AdminClient({"bootstrap.servers": stack.kafka})
    metadata = admin.list_topics(timeout=10)
    assert len(metadata.brokers) == 3
    topics = {name: metadata.topics[name] for name in ("new_order", "new_order.dlq")}
    assert len(topics["new_order"].partitions) == 6
    for name in ("new_order", "new_order.dlq", "__consumer_offsets"):
        replicas = [len(p.replicas) for p in metadata.topics[name].partitions.values()]
        assert set(replicas) == {3}, (name, replicas)
    (future,) = admin.describe_configs([ConfigResource("topic", "new_order")]).values()
    assert future.result(timeout=10)["min.insync.replicas"].value == "2"


@pytest.mark.last
@pytest.mark.timeout(1500)
def test_a_chaos_run_on_the_cluster_with_its_leading_broker_killed(stack: Stack) -> None:
    outcome = run(stack, orders=1200, clients=32)
    assert "kill the broker leading most partitions" in outcome.faults, outcome.faults
    assert "kill orders-2 (an API replica)" in outcome.faults, outcome.faults
    assert outcome.orders_accepted == 1200, outcome.table()
    assert outcome.passed, outcome.table()
