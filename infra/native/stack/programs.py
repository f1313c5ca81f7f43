"""The topology in one place: every program the supervisor runs, with its command line, its
working directory, how to tell that it is ready and how to stop it. The servers come first, then
the services, in start order, under the names of `stack_control.processes` (checked when the
table is built, so that the fault tests and this table cannot drift apart), each role as many
times as the topology says: `kafka`, `kafka-2`, `kafka-3`; `orders`, `orders-2`; ... (the
second replica of an API on the port of `stack_control.topology.port`)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stack_control.topology import replica_name

from . import kafka, nginx
from .postgres import Postgres
from .probes import http_ok, redis_ready, service_ready
from .settings import Settings


@dataclass(frozen=True)
class Program:
    name: str
    command: str
    ready: Callable[[], bool]
    directory: Path
    user: str | None = None  # started as this user by the supervisor itself, not through `exec`
    stop_signal: str = "TERM"
    stop_wait: int = 20


def build(settings: Settings, postgres: Postgres) -> dict[str, Program]:
    root, py = settings.root, settings.venv_bin
    auth, orders, processor = (
        root / "services" / folder
        for folder in ("auth-service", "orders-service", "order-processor")
    )

    topology = settings.topology

    def api(name: str, app: str, port_name: str, directory: Path) -> tuple[Program, ...]:
        def one(n: int) -> Program:
            port = settings.port(port_name, n)
            command = (
                f"{py / 'uvicorn'} {app} --host 127.0.0.1 --port {port} "
                "--no-access-log --no-proxy-headers"
            )
            return Program(replica_name(name, n), command, service_ready(port), directory)

        return tuple(one(n) for n in range(1, topology.count(name) + 1))

    def loop(name: str, command: str, directory: Path) -> tuple[Program, ...]:
        """A process without HTTP: started is as ready as it can be told. `{name}` in the
        command is the replica's name."""
        return tuple(
            Program(
                replica_name(name, n),
                command.format(name=replica_name(name, n)),
                lambda: True,
                directory,
                stop_wait=30,
            )
            for n in range(1, topology.count(name) + 1)
        )

    def broker(n: int) -> Program:
        return Program(
            replica_name("kafka", n),
            kafka.command(settings, n),
            lambda: kafka.ready(settings, n),
            root,
            stop_wait=40,
        )

    redis = (
        f"{shutil.which('redis-server') or 'redis-server'} --port {settings.port('REDIS')} "
        f"--bind 127.0.0.1 --dir {settings.stack_dir / 'redis'} --appendonly yes "
        "--appendfsync everysec --save '' --daemonize no"
    )
    # each worker its own Celery node name: worker@host, worker-2@host
    worker = (
        f"{py / 'celery'} -A order_processor.celery_app worker --loglevel INFO "
        "--hostname {name}@%%h"
    )
    table = (
        # servers (as `postgres`, the repository itself may be out of reach: its own directory)
        Program(
            "postgres",
            postgres.command(),
            postgres.ready,
            postgres.root,
            user=postgres.user,
            stop_signal="INT",
            stop_wait=30,
        ),
        Program("redis", redis, lambda: redis_ready(settings.port("REDIS")), root),
        *(broker(n) for n in range(1, topology.brokers + 1)),
        # services
        *api("auth", "auth_service.main:app", "AUTH", auth),
        *api("orders", "orders_service.main:app", "ORDERS", orders),
        *loop("relay", f"{py / 'python'} -m orders_service.outbox_relay", orders),
        *api("processor", "order_processor.main:app", "PROCESSOR", processor),
        *loop("consumer", f"{py / 'python'} -m order_processor.consumer", processor),
        *loop("worker", worker, processor),
        Program(
            "gateway", nginx.command(settings), lambda: http_ok(nginx.live_url(settings)), root
        ),
    )
    names = tuple(program.name for program in table)
    if names != topology.processes:
        raise RuntimeError(
            f"programs {names} differ from stack_control.processes {topology.processes}"
        )
    return {program.name: program for program in table}
