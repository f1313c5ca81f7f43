"""`make chaos`: careful clients place orders while the stack's servers fail on a schedule; then
it counts what was accepted, published, processed, lost and duplicated.

Every order is sent with an Idempotency-Key and retried on a timeout, a connection error, a 5xx,
a 409 (its first attempt still in flight) and a 429 (after Retry-After), as a careful client
would, until it is answered 201. Meanwhile the relay is killed, Kafka is stopped, Redis is frozen
and then restarted, PostgreSQL is restarted, and the consumer and the worker are killed. When
the pipeline has drained it prints a table and a JSON line, and exits 1 unless nothing was lost,
no work was done twice, no key made two orders, no answer was a 500, no retry was answered by
the gateway itself for want of a replica, and every key's events kept their order in one
partition.

On a cluster (`make dev-up brokers=3 replicas=2`) the schedule kills one replica where today's
kills the process (one relay, one consumer, one worker), kills one orders API replica, and
SIGKILLs the broker that leads most `new_order` partitions, keeping it down for a while.

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
from confluent_kafka.admin import AdminClient

from stack_control import kill, log_text, start, stop
from stack_control.freeze import freeze, thaw
from stack_control.topology import Topology, requested
from tests.chaos_counts import Outcome, count_outcome, wait_for_drain
from tests.clients import Sql, Stack, User

log = logging.getLogger("chaos")

# (seconds after the start, what happens); each step starts when the previous one has finished.
Step = tuple[float, str, Callable[[], None]]


def _restart(name: str) -> None:
    stop(name)
    start(name)


def _one(topology: Topology, role: str) -> str:
    """One replica of `role` (the role itself where it runs once)."""
    return f"{role}-2" if topology.count(role) > 1 else role


def leading_broker(stack: Stack) -> tuple[str, int]:
    """The broker that leads most `new_order` partitions, as `kafka-<node id>`, and how many
    it leads."""
    admin = AdminClient({"bootstrap.servers": stack.kafka})
    partitions = admin.list_topics("new_order", timeout=10).topics["new_order"].partitions
    leader, count = Counter(p.leader for p in partitions.values()).most_common(1)[0]
    return f"kafka-{leader}", count


class BrokerKill:
    """SIGKILL the leading broker and keep it down; later start that same one again."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.name = ""

    def kill(self) -> None:
        self.name, leads = leading_broker(self.stack)
        log.info("         %s leads %d new_order partitions", self.name, leads)
        kill(self.name, stay_down=True)

    def start(self) -> None:
        start(self.name)


def _schedule(short: bool, stack: Stack) -> tuple[float, list[Step]]:
    """The sending window and the faults within it."""
    k = 0.3 if short else 1.0
    outage = 6.0 if short else 20.0
    freeze_for = 4.0 if short else 10.0
    topology = stack.topology
    relay, consumer, worker = (_one(topology, role) for role in ("relay", "consumer", "worker"))
    steps: list[Step] = [
        (8 * k, f"kill {relay}", lambda: kill(relay)),
        (15 * k, f"stop kafka for {outage:.0f} s", lambda: stop("kafka")),
        (15 * k + outage, "start kafka", lambda: start("kafka")),
        (40 * k, f"freeze redis for {freeze_for:.0f} s", lambda: freeze("redis")),
        (40 * k + freeze_for, "thaw redis", lambda: thaw("redis")),
        (40 * k + freeze_for + 1, "restart redis", lambda: _restart("redis")),
        (60 * k, "restart postgres", lambda: _restart("postgres")),
        (70 * k, f"kill {consumer}", lambda: kill(consumer)),
        (80 * k, f"kill {worker}", lambda: kill(worker)),
    ]
    if topology.replicas > 1:
        steps.append((5 * k, "kill orders-2 (an API replica)", lambda: kill("orders-2")))
    if topology.brokers > 1:
        broker = BrokerKill(stack)
        steps.append((53 * k, "kill the broker leading most partitions", broker.kill))
        steps.append((53 * k + outage, "start that broker again", broker.start))
    return 100 * k, sorted(steps, key=lambda step: step[0])


@dataclass
class Tally:
    """What the clients saw, shared by their threads."""

    statuses: Counter[str] = field(default_factory=Counter)
    accepted: dict[str, str] = field(default_factory=dict)  # key -> order id
    refused: dict[str, str] = field(default_factory=dict)  # key -> why it was given up
    # retries the gateway answered itself (its JSON 503 for a 502/504: no replica answered)
    gateway_failed_retries: list[str] = field(default_factory=list)
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


def _from_the_gateway(response: httpx.Response) -> bool:
    """The gateway's own 503 (what a 502 or 504 becomes): the services set X-Request-ID."""
    return response.status_code == 503 and "x-request-id" not in response.headers


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
            if attempt > 1 and _from_the_gateway(response):
                with tally.lock:
                    tally.gateway_failed_retries.append(key)
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
    window, steps = _schedule(short, stack)
    run_id = uuid.uuid4().hex[:8]
    started = time.monotonic()
    # a per-user limit of 120/min: enough users that the clients stay well under it
    with httpx.Client(timeout=10) as http:
        users = [_login(stack, http, f"chaos{i}") for i in range(max(2, math.ceil(orders / 80)))]
    _say(started, f"{orders} orders from {clients} clients as {len(users)} users, run {run_id}")
    _say(started, f"{stack.topology.brokers} broker(s), {stack.topology.replicas} replica(s)")
    tally = Tally()
    url = f"{stack.gateway}/orders/"
    begin = time.monotonic()
    deadline = begin + window + 240

    def client(index: int) -> None:
        with httpx.Client() as http:
            for n in range(index, orders, clients):
                time.sleep(max(0.0, begin + n * window / orders - time.monotonic()))
                _place(http, url, users[n % len(users)], f"chaos-{run_id}-{n}", tally, deadline)

    done: list[str] = []

    def faults() -> None:
        for at, what, action in steps:
            time.sleep(max(0.0, begin + at - time.monotonic()))
            _say(started, what)
            action()
            done.append(what)

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
    outcome.gateway_failed_retries = len(tally.gateway_failed_retries)
    outcome.examples["gateway failed a retry"] = tally.gateway_failed_retries
    outcome.faults = done
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="chaos %(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    stack = Stack.from_settings()
    wanted, running = requested(stack.env), stack.topology
    # `make chaos brokers=3`: the broker kill needs a stack of three brokers
    if wanted and (wanted.brokers > running.brokers or wanted.replicas > running.replicas):
        log.error("the stack runs %s: make dev-up brokers=3 replicas=2 first", running)
        return 2
    outcome = run(stack, args.orders, args.clients)
    log.info("%s", outcome.table())
    log.info("%s", json.dumps(outcome.as_dict()))
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
