"""A task whose work always fails, run by a real worker: each failure is recorded on its claim,
retried after a back-off, and past the limit the order is parked as failed, which the CLI and
/metrics show."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
from sqlalchemy import Engine, text

from contracts import parse_new_order
from order_processor.celery_app import app as celery_app
from order_processor.config import Settings
from order_processor.db.models import ProcessedOrder
from order_processor.main import create_app
from order_processor.task_queue import TaskQueue
from stack_control.waiting import eventually
from tests.support import SERVICE_DIR, count, env_for, new_order_event

ATTEMPTS = 3


def claim_of(db: Engine, order_id: str) -> tuple[str, int, int, str] | None:
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT state, attempts, failures, last_error FROM order_runs"
                " WHERE order_id = CAST(:id AS uuid)"
            ),
            {"id": order_id},
        ).one_or_none()
    return None if row is None else (row.state, row.attempts, row.failures, row.last_error)


async def metrics(settings: Settings) -> dict[str, float]:
    """The processor's /metrics, once its background refresh has read the database."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://processor") as http,
    ):
        for _ in range(50):
            lines = (await http.get("/metrics")).text.splitlines()
            values = {
                name: float(value)
                for name, _, value in (line.partition(" ") for line in lines)
                if name.startswith("order_processor_")
            }
            if values.get("order_processor_orders_failed"):
                return values
            await asyncio.sleep(0.2)
    return values


def test_a_failing_task_is_retried_then_parked_as_failed_and_shown(
    settings: Settings, db: Engine, start
) -> None:
    event = parse_new_order(new_order_event())
    order_id = str(event.data.order_id)
    TaskQueue(celery_app, settings.task_queue).enqueue(event)

    worker = start(
        "failing-worker",
        settings,
        PROCESSOR_TASK_MAX_ATTEMPTS=str(ATTEMPTS),
        ORDER_PROCESSING_SECONDS="0",
    )
    eventually(lambda: (claim_of(db, order_id) or ("",))[0] == "failed", 60, "parked as failed")
    worker.stop()

    assert claim_of(db, order_id) == ("failed", ATTEMPTS, ATTEMPTS, "ValueError: the work broke")
    assert count(db, ProcessedOrder) == 0
    logged = [e for e in worker.events() if e.get("order_id") == order_id]
    assert [e["attempt"] for e in logged if e["event"] == "order.processing"] == [1, 2, 3]
    assert [e["event"] for e in logged].count("order.attempt_failed") == ATTEMPTS - 1
    [failed] = [e for e in logged if e["event"] == "order.failed"]
    assert failed["level"] == "error"
    assert "order processed" not in [e["event"] for e in logged]

    listed = subprocess.run(
        [sys.executable, "-m", "order_processor.failed"],
        cwd=SERVICE_DIR,
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    [line] = [line for line in listed.splitlines() if order_id in line]
    assert "ValueError: the work broke" in line
    assert f" {ATTEMPTS} " in line

    shown = asyncio.run(metrics(settings))
    assert shown["order_processor_orders_failed"] == 1
    assert shown["order_processor_task_failures_total"] >= ATTEMPTS
