"""The Celery application: broker Redis db 1; the tasks live in order_processor.tasks.

Every setting below that decides whether a task can be lost, run twice or block is set here on
purpose, with its reason; they are read against Celery 5.7 and kombu's Redis transport.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging as celery_setup_logging

from order_processor.config import Settings, get_settings
from service_kit.logging import configure_logging

settings = get_settings()

# kombu's retry of one publish (Connection.ensure): one more try, on a fresh connection, covers
# a connection the broker closed (a restart); more would only stretch the wait on a broker that
# does not answer. Worst case about three broker timeouts plus the intervals; then the consumer
# backs off (consumer.py), and a retry the worker could not queue is left to reconciliation.
PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0.2,
    "interval_step": 0.3,
    "interval_max": 0.5,
}


def make_celery(settings: Settings) -> Celery:
    celery = Celery(
        "order_processor", broker=settings.celery_broker_url, include=["order_processor.tasks"]
    )
    timeout = settings.broker_timeout_seconds
    celery.conf.update(
        task_serializer="json",
        accept_content=["json"],
        # No result backend: a task's outcome is its row in processed_orders or order_runs.
        task_ignore_result=True,
        # Acknowledged only once the task returned: a worker lost mid-task hands it back.
        task_acks_late=True,
        # (task_acks_on_failure_or_timeout, split in two in Celery 5.7.) The task records its
        # failures and retries itself; an exception that still escapes is acknowledged, since
        # with Redis a reject drops the message all the same and a requeue would loop; its
        # order is found again by reconciliation.
        task_acks_on_failure=True,
        task_acks_on_timeout=True,
        # A pool child that dies mid-task (prefork) gives its message back; the claim's lease
        # and the attempt limit keep an order that kills its worker from looping forever.
        task_reject_on_worker_lost=True,
        # From the work time (config.py). Enforced by the prefork pool only, not by the threads
        # pool run here; they size the claim's lease and the visibility timeout either way.
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        # The worker's own publishes (a retry with its countdown) are bounded like the consumer's.
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
        worker_prefetch_multiplier=1,
        worker_pool="threads",
        worker_concurrency=settings.worker_concurrency,
        broker_transport_options={
            # Longer than a task held until its retry countdown, then run: not handed out twice.
            "visibility_timeout": settings.visibility_timeout,
            # Without them a broker that stops answering (frozen, half-open connection) blocks
            # every call for ever: the consumer inside its inbox transaction, the worker's acks.
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            # A connection the network dropped silently is noticed by the kernel too.
            "socket_keepalive": True,
            # A command that timed out is not replayed by redis-py: the publish may have landed.
            "retry_on_timeout": False,
        },
        # Read by the AMQP transports only (Redis takes socket_connect_timeout); kept equal.
        broker_connection_timeout=timeout,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue=settings.task_queue,
    )
    return celery


app = make_celery(settings)


@celery_setup_logging.connect
def _configure_logging(**_: Any) -> None:
    configure_logging("order-processor", settings.log_level, settings.log_json)
