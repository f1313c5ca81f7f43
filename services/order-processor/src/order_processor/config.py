"""order-processor settings, from env variables prefixed PROCESSOR_."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from contracts import NEW_ORDER_DLQ_TOPIC, NEW_ORDER_TOPIC
from service_kit.settings import ServiceSettings


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
    order_processing_seconds: float = Field(
        default=2.0,
        ge=0,
        validation_alias=AliasChoices(
            "PROCESSOR_ORDER_PROCESSING_SECONDS", "ORDER_PROCESSING_SECONDS"
        ),
    )

    @property
    def sync_database_url(self) -> str:
        """The same database for the Celery worker, which runs synchronous code."""
        return self.database_url.replace("+asyncpg", "+psycopg")


@lru_cache
def get_settings() -> Settings:
    return Settings()
