"""The Celery task around the use case: a failed run goes back to Celery with the countdown the
use case chose, anything else is acknowledged; and the timeouts follow from the work time."""

from __future__ import annotations

from typing import Any

import pytest
from celery.exceptions import Retry

from order_processor import tasks
from order_processor.celery_app import make_celery
from order_processor.celery_app import settings as worker_settings
from order_processor.config import RETRY_BASE_SECONDS, RETRY_CAP_SECONDS, Settings
from order_processor.services import processing
from order_processor.services.processing import Outcome, Run
from service_kit.backoff import backoff_ceiling
from tests.support import new_order_event


@pytest.fixture
def retries(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The retries the task asks Celery for."""
    asked: list[dict[str, Any]] = []

    def retry(**options: Any) -> Retry:
        asked.append(options)
        return Retry()

    monkeypatch.setattr(tasks.process_order, "retry", retry)
    return asked


def answer(monkeypatch: pytest.MonkeyPatch, result: Run) -> dict[str, Any]:
    """Make the use case answer `result`; what the task passes it is filled in when it runs."""
    passed: dict[str, Any] = {}

    def process(*_: Any, **options: Any) -> Run:
        passed.update(options)
        return result

    monkeypatch.setattr(processing, "process", process)
    return passed


def run_task() -> None:
    event = new_order_event()
    tasks.process_order.run(order=event["data"], event_id=event["event_id"], correlation_id="t")


def test_a_failed_run_is_retried_after_the_countdown_it_was_given(
    monkeypatch: pytest.MonkeyPatch, retries: list[dict[str, Any]]
) -> None:
    answer(monkeypatch, Run(Outcome.RETRY, attempt=3, retry_in=7.5))

    with pytest.raises(Retry):
        run_task()

    # the attempt limit is order_runs', not Celery's: a re-queued task starts Celery's at zero
    assert retries == [{"countdown": 7.5, "max_retries": None}]


def test_the_use_case_gets_the_platform_back_off_and_the_settings(
    monkeypatch: pytest.MonkeyPatch, retries: list[dict[str, Any]]
) -> None:
    passed = answer(monkeypatch, Run(Outcome.PROCESSED, attempt=1))

    run_task()

    ceiling = backoff_ceiling(3, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)
    assert ceiling / 2 <= passed["retry_delay"](3) <= ceiling
    assert passed["max_attempts"] == worker_settings.task_max_attempts
    assert passed["lease_seconds"] == worker_settings.claim_lease_seconds
    assert passed["transient"] == tasks.TRANSIENT


@pytest.mark.parametrize(
    "outcome", [Outcome.PROCESSED, Outcome.ALREADY_PROCESSED, Outcome.HELD, Outcome.FAILED]
)
def test_every_other_outcome_is_acknowledged_without_a_retry(
    monkeypatch: pytest.MonkeyPatch, retries: list[dict[str, Any]], outcome: Outcome
) -> None:
    answer(monkeypatch, Run(outcome, attempt=1))
    run_task()
    assert retries == []


def test_the_timeouts_follow_from_the_work_time() -> None:
    settings = Settings(order_processing_seconds=10)
    conf = make_celery(settings).conf

    assert settings.order_processing_seconds < conf.task_soft_time_limit < conf.task_time_limit
    # a claim outlives the longest run, so a live run is never taken over
    assert settings.claim_lease_seconds > conf.task_time_limit
    # a task held until its retry countdown, then run, is not handed out a second time
    options = conf.broker_transport_options
    assert options["visibility_timeout"] > RETRY_CAP_SECONDS + conf.task_time_limit
    # a broker that stops answering fails a publish instead of blocking it
    assert options["socket_timeout"] == settings.broker_timeout_seconds
    assert options["socket_connect_timeout"] == settings.broker_timeout_seconds
