"""The processing use case with fake claims and processed orders: the work runs once, under a
claim; a failed run is recorded, then retried or parked as failed."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from contracts import NewOrderV1
from order_processor.services.processing import Outcome, Run, process
from tests.support import new_order_event
from tests.unit.fake_runs import ClaimRow, FakeRuns

LEASE = 60.0
MAX_ATTEMPTS = 3
RETRY_IN = 4.0  # the back-off before each retry


def an_order() -> NewOrderV1:
    return NewOrderV1.model_validate(new_order_event()["data"])


def run(
    runs: FakeRuns,
    order: NewOrderV1,
    work: Callable[[float], None],
    event_id: uuid.UUID | None = None,
) -> Run:
    return process(
        order,
        event_id=event_id or uuid.uuid4(),
        work_seconds=2.0,
        lease_seconds=LEASE,
        max_attempts=MAX_ATTEMPTS,
        retry_delay=lambda attempt: RETRY_IN,
        transaction=runs.transaction,
        transient=(ConnectionError,),
        sleep=work,
    )


def test_the_work_runs_once_under_a_claim_and_the_order_is_recorded() -> None:
    runs = FakeRuns()
    order, event_id = an_order(), uuid.uuid4()
    slept: list[float] = []

    def work(seconds: float) -> None:
        assert runs.open_transactions == 0  # no connection held during the work
        assert runs.claims[order.order_id].state == "running"  # claimed before the work
        slept.append(seconds)

    with capture_logs() as logs:
        result = run(runs, order, work, event_id)

    assert result == Run(Outcome.PROCESSED, attempt=1)
    assert slept == [2.0]
    assert runs.processed == {order.order_id: (order.user_id, event_id)}
    assert runs.claims[order.order_id].state == "done"
    [started] = [e for e in logs if e["event"] == "order.processing"]
    assert started["attempt"] == 1
    assert [e["event"] for e in logs].count("order processed") == 1


def test_an_order_processed_already_gets_no_work() -> None:
    runs = FakeRuns()
    order = an_order()
    runs.processed[order.order_id] = (order.user_id, None)
    slept: list[float] = []

    assert run(runs, order, slept.append).outcome is Outcome.ALREADY_PROCESSED

    assert slept == []
    assert runs.processed == {order.order_id: (order.user_id, None)}
    assert runs.claims == {}


def test_a_concurrent_run_finishing_first_counts_as_processed_already() -> None:
    runs = FakeRuns()
    order, first_event = an_order(), uuid.uuid4()

    def concurrent_run_finishes(_: float) -> None:
        runs.processed[order.order_id] = (order.user_id, first_event)

    assert run(runs, order, concurrent_run_finishes).outcome is Outcome.ALREADY_PROCESSED
    assert runs.processed == {order.order_id: (order.user_id, first_event)}


def test_a_claim_held_by_a_live_lease_means_no_work() -> None:
    runs = FakeRuns()
    order = an_order()
    runs.claims[order.order_id] = ClaimRow("running", 1, runs.now + 10)
    slept: list[float] = []

    with capture_logs() as logs:
        result = run(runs, order, slept.append)

    assert result.outcome is Outcome.HELD
    assert slept == []
    assert "order.claim_held" in [e["event"] for e in logs]
    assert "order.processing" not in [e["event"] for e in logs]
    assert runs.claims[order.order_id].attempts == 1


def test_an_expired_lease_is_taken_over_as_the_next_attempt() -> None:
    runs = FakeRuns()
    order = an_order()
    runs.claims[order.order_id] = ClaimRow("running", 1, runs.now - 1)  # its run crashed
    slept: list[float] = []

    result = run(runs, order, slept.append)

    assert result == Run(Outcome.PROCESSED, attempt=2)
    assert slept == [2.0]
    assert runs.claims[order.order_id].state == "done"


@pytest.mark.parametrize("state", ["failed", "done"])
def test_a_failed_or_finished_claim_is_never_taken(state: str) -> None:
    runs = FakeRuns()
    order = an_order()
    runs.claims[order.order_id] = ClaimRow(state, 1, runs.now - 100)
    slept: list[float] = []

    assert run(runs, order, slept.append).outcome is Outcome.HELD
    assert slept == []


def broken(_: float) -> None:
    raise ValueError("the work broke")


def test_a_failed_run_is_recorded_and_its_claim_freed_for_the_retry() -> None:
    runs = FakeRuns()
    order = an_order()

    with capture_logs() as logs:
        result = run(runs, order, broken)

    assert result == Run(Outcome.RETRY, attempt=1, retry_in=RETRY_IN)
    row = runs.claims[order.order_id]
    assert (row.state, row.attempts, row.failures) == ("retrying", 1, 1)
    assert row.last_error == "ValueError: the work broke"
    assert runs.processed == {}
    [failed] = [e for e in logs if e["event"] == "order.attempt_failed"]
    assert (failed["log_level"], failed["attempt"]) == ("warning", 1)
    assert "order processed" not in [e["event"] for e in logs]

    slept: list[float] = []
    # a copy arriving soon after does not run ahead of the back-off…
    assert run(runs, order, slept.append).outcome is Outcome.HELD
    # …the retry, when due, claims it
    runs.now += RETRY_IN
    assert run(runs, order, slept.append) == Run(Outcome.PROCESSED, attempt=2)
    assert slept == [2.0]


def test_the_last_allowed_attempt_failing_parks_the_order_as_failed() -> None:
    runs = FakeRuns()
    order = an_order()
    results = []
    for _ in range(MAX_ATTEMPTS):
        results.append(run(runs, order, broken))
        runs.now += RETRY_IN  # each retry when it is due

    assert [r.outcome for r in results] == [Outcome.RETRY] * (MAX_ATTEMPTS - 1) + [Outcome.FAILED]
    row = runs.claims[order.order_id]
    assert (row.state, row.attempts, row.failures) == ("failed", MAX_ATTEMPTS, MAX_ATTEMPTS)

    with capture_logs() as logs:
        assert run(runs, order, broken).outcome is Outcome.HELD  # a late copy does nothing
    assert "order.processing" not in [e["event"] for e in logs]


def test_runs_that_ended_without_an_outcome_use_up_the_attempts_too() -> None:
    runs = FakeRuns()
    order = an_order()
    # every earlier run was lost with its worker: the claim was left to expire
    runs.claims[order.order_id] = ClaimRow("running", MAX_ATTEMPTS, runs.now - 1)
    slept: list[float] = []

    with capture_logs() as logs:
        result = run(runs, order, slept.append)

    assert result == Run(Outcome.FAILED, attempt=MAX_ATTEMPTS)
    assert slept == []
    assert runs.claims[order.order_id].state == "failed"
    [failed] = [e for e in logs if e["event"] == "order.failed"]
    assert failed["log_level"] == "error"


def test_a_transient_error_releases_the_claim_and_reaches_the_task() -> None:
    runs = FakeRuns()
    order = an_order()

    def database_gone(_: float) -> None:
        raise ConnectionError("database unreachable")

    with pytest.raises(ConnectionError):
        run(runs, order, database_gone)

    row = runs.claims[order.order_id]
    assert (row.state, row.failures) == ("retrying", 0)  # waited out, not counted as a failure
    assert row.lease_until <= runs.now


def test_a_run_whose_claim_was_taken_over_records_nothing() -> None:
    runs = FakeRuns()
    order = an_order()

    def overtaken(_: float) -> None:
        # this run outlived its lease; another run took the order over meanwhile
        runs.claims[order.order_id].attempts += 1
        raise ValueError("late")

    assert run(runs, order, overtaken).outcome is Outcome.HELD
    assert runs.claims[order.order_id].state == "running"
    assert runs.claims[order.order_id].failures == 0
