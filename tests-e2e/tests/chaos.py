"""`make chaos`: careful clients place orders while the stack's servers fail on a schedule; then
it counts what was accepted, published, processed, lost and duplicated.

Every order is sent with an Idempotency-Key and retried on a timeout, a connection error, a 5xx,
a 409 (its first attempt still in flight) and a 429 (after Retry-After), as a careful client
would, until it is answered 201. Meanwhile the relay is killed, Kafka is stopped, Redis is frozen
and then restarted, PostgreSQL is restarted, and the consumer and the worker are killed. When
the pipeline has drained it prints a table and a JSON line, and exits 1 unless nothing was lost,
no work was done twice, no key made two orders and no answer was a 500.

    python -m tests.chaos [--orders 2000] [--clients 32]     (from tests-e2e/; `make chaos`)

Fewer than 1,000 orders run the short schedule (shorter outages), as `make test` does.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from stack_control import kill, log_text, start, stop
from stack_control.freeze import freeze, thaw
from tests.chaos_counts import Outcome, count_outcome, wait_for_drain
from tests.clients import Sql, Stack, User

log = logging.getLogger("chaos")

# (seconds after the start, what happens); each step starts when the previous one has finished.
Step = tuple[float, str, Callable[[], None]]


def _restart(name: str) -> None:
    stop(name)
    start(name)


def _schedule(short: bool) -> tuple[float, list[Step]]:
    """The sending window and the faults within it."""
    k = 0.3 if short else 1.0
    outage = 6.0 if short else 20.0
    freeze_for = 4.0 if short else 10.0
    steps: list[Step] = [
        (8 * k, "kill relay", lambda: kill("relay")),
        (15 * k, f"stop kafka for {outage:.0f} s", lambda: stop("kafka")),
        (15 * k + outage, "start kafka", lambda: start("kafka")),
        (40 * k, f"freeze redis for {freeze_for:.0f} s", lambda: freeze("redis")),
        (40 * k + freeze_for, "thaw redis", lambda: thaw("redis")),
        (40 * k + freeze_for + 1, "restart redis", lambda: _restart("redis")),
        (60 * k, "restart postgres", lambda: _restart("postgres")),
        (70 * k, "kill consumer", lambda: kill("consumer")),
        (80 * k, "kill worker", lambda: kill("worker")),
    ]
    return 100 * k, steps


@dataclass
class Tally:
    """What the clients saw, shared by their threads."""

    statuses: Counter[str] = field(default_factory=Counter)
    accepted: dict[str, str] = field(default_factory=dict)  # key -> order id
    refused: dict[str, str] = field(default_factory=dict)  # key -> why it was given up
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, status: str) -> None:
        with self.lock:
            self.statuses[status] += 1


def _say(started: float, text: str) -> None:
    log.info("%6.1f s  %s", time.monotonic() - started, text)


def _retry_429(send: Callable[[], httpx.Response]) -> httpx.Response:
    while (response := send()).status_code == 429:
        time.sleep(float(response.headers.get("Retry-After", "5")))
    return response.raise_for_status()


def _login(stack: Stack, http: httpx.Client, name: str) -> User:
    """A user of its own, waiting out the auth rate limits like any client."""
    email = f"{name}-{uuid.uuid4().hex[:10]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    register = {"email": email, "password": password}
    response = _retry_429(lambda: http.post(f"{stack.gateway}/register/", json=register))
    user_id = int(response.json()["id"])
    login = {"username": email, "password": password}
    response = _retry_429(lambda: http.post(f"{stack.gateway}/token/", data=login))
    return User(user_id, email, password, response.json()["access_token"])


def _place(
    http: httpx.Client, url: str, user: User, key: str, tally: Tally, deadline: float
) -> None:
    """One order, retried until it is answered 201 (or the run's deadline passes)."""
    body = {"items": [{"product_id": key[-64:], "name": "chaos", "quantity": 1, "price": "1.00"}]}
    headers = {**user.auth, "Idempotency-Key": key}
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        try:
            response = http.post(url, json=body, headers=headers, timeout=5)
        except httpx.TimeoutException:
            tally.saw("timeout")
        except httpx.TransportError:
            tally.saw("connection error")
        else:
            tally.saw(str(response.status_code))
            if response.status_code == 201:
                with tally.lock:
                    tally.accepted[key] = response.json()["id"]
                return
            if response.status_code == 429:
                time.sleep(min(float(response.headers.get("Retry-After", "1")), 60))
                continue
            if response.status_code != 409 and response.status_code < 500:
                with tally.lock:
                    tally.refused[key] = f"{response.status_code} {response.text[:200]}"
                return
        time.sleep(min(5.0, 0.1 * 2 ** min(attempt, 6)))
    with tally.lock:
        tally.refused[key] = "not answered 201 before the deadline"


def run(stack: Stack, orders: int, clients: int) -> Outcome:
    short = orders < 1000
    window, steps = _schedule(short)
    run_id = uuid.uuid4().hex[:8]
    started = time.monotonic()
    # a per-user limit of 120/min: enough users that the clients stay well under it
    with httpx.Client(timeout=10) as http:
        users = [_login(stack, http, f"chaos{i}") for i in range(max(2, math.ceil(orders / 80)))]
    _say(started, f"{orders} orders from {clients} clients as {len(users)} users, run {run_id}")
    tally = Tally()
    url = f"{stack.gateway}/orders/"
    begin = time.monotonic()
    deadline = begin + window + 240

    def client(index: int) -> None:
        with httpx.Client() as http:
            for n in range(index, orders, clients):
                time.sleep(max(0.0, begin + n * window / orders - time.monotonic()))
                _place(http, url, users[n % len(users)], f"chaos-{run_id}-{n}", tally, deadline)

    def faults() -> None:
        for at, what, action in steps:
            time.sleep(max(0.0, begin + at - time.monotonic()))
            _say(started, what)
            action()

    with ThreadPoolExecutor(clients + 1) as pool:
        failures = [pool.submit(faults)] + [pool.submit(client, i) for i in range(clients)]
        for future in failures:
            future.result()
    _say(started, f"all answered: {dict(tally.statuses)}")
    sent = time.monotonic()
    orders_db, processor_db = Sql(stack.database("ORDERS")), Sql(stack.database("PROCESSOR"))
    user_ids = [u.id for u in users]
    wait_for_drain(orders_db, processor_db, user_ids, 600 if not short else 300, started)
    outcome = count_outcome(
        stack,
        orders_db,
        processor_db,
        user_ids,
        tally.accepted,
        tally.refused,
        tally.statuses,
        log_text("worker"),
    )
    outcome.seconds_to_drain = round(time.monotonic() - sent, 1)
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="chaos %(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    outcome = run(Stack.from_settings(), args.orders, args.clients)
    log.info("%s", outcome.table())
    log.info("%s", json.dumps(outcome.as_dict()))
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
