"""order-processor settings, from env variables prefixed PROCESSOR_."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from contracts import NEW_ORDER_DLQ_TOPIC, NEW_ORDER_TOPIC
from service_kit.db import postgres_url
from service_kit.settings import ServiceSettings

# Besides the work, a task makes a few database round trips, each bounded by the connection's
# and the pool's timeouts; a run that has not finished this long after its work is stuck.
TASK_OVERHEAD_SECONDS = 30.0
# After the soft time limit a task still records its failure; the hard limit ends it.
TASK_WIND_DOWN_SECONDS = 10.0
# A failed run is retried after service_kit.backoff's delay for its attempt, at most the cap.
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 60.0


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROCESSOR_", extra="ignore")

    database_url: str = "postgresql+asyncpg://processor:dev-only-processor@127.0.0.1:5432/processor"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    celery_broker_url: str = "redis://127.0.0.1:6379/1"
    consumer_group: str = "order-processor"
    topic: str = NEW_ORDER_TOPIC
    dlq_topic: str = NEW_ORDER_DLQ_TOPIC
    # Celery queue the consumer feeds and the worker reads.
    task_queue: str = "orders"
    # The task mostly waits, so the worker runs it on threads: this many orders at once.
    worker_concurrency: int = Field(default=128, ge=1)
    # How often stored offsets are committed (they are stored only after the task is queued).
    commit_interval_ms: int = 1000
    # At most this many messages handled together: one inbox transaction, one broker pipeline.
    # A batch is what has arrived already, so a lone message is not held back waiting for more.
    consumer_batch_size: int = Field(default=500, ge=1)
    order_processing_seconds: float = Field(
        default=2.0,
        ge=0,
        validation_alias=AliasChoices(
            "PROCESSOR_ORDER_PROCESSING_SECONDS", "ORDER_PROCESSING_SECONDS"
        ),
    )

    # Failed runs of one order before it is parked as failed (order_runs.state, /metrics, CLI).
    task_max_attempts: int = Field(default=5, ge=1)
    # Timeout of each call to the broker (socket and connect): a broker that stops answering
    # fails the intake within a few seconds, and the consumer backs off instead of blocking.
    broker_timeout_seconds: float = Field(default=2.0, gt=0)
    # An inbox entry this old with no outcome and no live run is queued again: a lost task,
    # queue or crash heals by itself. Passes run this often, each taking at most a batch.
    reconcile_after_seconds: float = Field(default=60.0, gt=0)
    reconcile_interval_seconds: float = Field(default=30.0, gt=0)
    reconcile_batch_size: int = Field(default=500, ge=1)

    @property
    def task_soft_time_limit(self) -> float:
        return self.order_processing_seconds + TASK_OVERHEAD_SECONDS

    @property
    def task_time_limit(self) -> float:
        return self.task_soft_time_limit + TASK_WIND_DOWN_SECONDS

    @property
    def claim_lease_seconds(self) -> float:
        """How long a run holds its order: longer than the longest run, so a live run is never
        taken over; a crashed run's order is free again this long after it began."""
        return self.task_time_limit + TASK_WIND_DOWN_SECONDS

    @property
    def visibility_timeout(self) -> int:
        """How long the broker waits for a delivered task's acknowledgement before handing it
        out again. A task retried with a countdown is held by the worker, unacknowledged, until
        it runs: the longest countdown plus the longest run, with a margin."""
        return int(RETRY_CAP_SECONDS + self.task_time_limit + TASK_OVERHEAD_SECONDS)

    @property
    def sync_database_url(self) -> str:
        """The same database for the Celery worker, which runs synchronous code."""
        return postgres_url(self.database_url, "psycopg")


@lru_cache
def get_settings() -> Settings:
    return Settings()
