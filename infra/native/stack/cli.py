"""The native stack's commands (through `make dev-*`):

up            start everything, migrate, wait until every /health/ready is 200 (the topology of
              STACK_BROKERS / STACK_REPLICAS, else the one recorded, else one of each)
down          stop everything; no process of the stack is left running
status        one line per process
stop NAME     stop one process (postgres, redis, kafka, gateway, auth, ...)
start NAME    start it again and wait until it is ready
kill NAME     SIGKILL it, as a crash would (the supervisor restarts it; --stay-down: not
              until `start NAME`)
logs [NAME]   the tail of a process's log file (the supervisor's without NAME)
exec CMD...   run CMD with the stack's configuration (the Makefile's WITH_ENV, and the
              supervisor's way to start each program)

NAME is a role (every replica of it: `kafka` is every broker) or one replica (`kafka-2`,
`orders-2`; `kafka-1` is the first, whose process keeps the name `kafka`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from functools import cached_property

from stack_control import topology as topologies
from stack_control.processes import NAMES, SERVERS, SERVICES

from . import kafka, nginx, settings
from .postgres import Postgres
from .probes import tcp_open
from .programs import Program, build
from .settings import Settings
from .shell import run
from .supervisor import Supervisor

log = logging.getLogger("stack")
MIGRATED = ("auth-service", "orders-service", "order-processor")


class Stack:
    """What one command works with, each part made once and only when the command needs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.supervisor = Supervisor(settings)

    @cached_property
    def postgres(self) -> Postgres:
        return Postgres(self.settings)

    @cached_property
    def programs(self) -> dict[str, Program]:
        return build(self.settings, self.postgres)

    def program(self, name: str) -> Program:
        if name not in self.programs:
            sys.exit(f"unknown process {name!r}; one of: {', '.join(self.programs)}")
        return self.programs[name]

    def named(self, name: str) -> tuple[Program, ...]:
        """The programs a name means: every replica of a role, or the replica named."""
        try:
            names = self.settings.topology.resolve(name)
        except ValueError as error:
            sys.exit(str(error))
        return tuple(self.program(process) for process in names)


def up(stack: Stack, _: str | None) -> int:
    s, supervisor, started = stack.settings, stack.supervisor, time.monotonic()
    # 1. a fresh start needs free ports and the Kafka jars; a topology changes only when down
    s.stack_dir.mkdir(parents=True, exist_ok=True)
    refuse_another_topology(stack)
    if not supervisor.running():
        refuse_taken_ports(s)
    if not (s.kafka_home / "libs").is_dir():
        sys.exit(f"Kafka jars not found in {s.kafka_home}; run infra/native/install.sh")
    topologies.record(s.stack_dir, s.topology)
    # 2. the servers' files: a PostgreSQL cluster, Kafka's and nginx's configuration
    stack.postgres.init()
    (s.stack_dir / "redis").mkdir(parents=True, exist_ok=True)
    kafka.write_config(s)
    nginx.write_config(s)
    # 3. the supervisor, with every program stopped (or its configuration re-read)
    supervisor.boot(stack.programs.values())
    # 4. the servers, each ready before the next (the brokers of a cluster together)
    for name in SERVERS:
        supervisor.start(*stack.named(name))
    # 5. what the services expect to find: roles and databases, topics, the latest schema
    stack.postgres.ensure_databases()
    kafka.ensure_topics(s)
    for folder in MIGRATED:
        run(s, [str(s.venv_bin / "alembic"), "upgrade", "head"], cwd=s.root / "services" / folder)
    # 6. the services, in start order
    for name in SERVICES:
        supervisor.start(*stack.named(name))
    log.info("stack up in %.0f s (%s)", time.monotonic() - started, describe(s.topology))
    for label, url in (
        ("gateway", f"http://127.0.0.1:{s.port('GATEWAY')}"),
        ("auth docs", f"http://127.0.0.1:{s.port('AUTH')}/docs"),
        ("orders docs", f"http://127.0.0.1:{s.port('ORDERS')}/docs"),
        ("processor docs", f"http://127.0.0.1:{s.port('PROCESSOR')}/docs"),
    ):
        log.info("%-15s %s", label, url)
    return 0


def describe(topology: topologies.Topology) -> str:
    return f"{topology.brokers} broker(s), {topology.replicas} replica(s) of each service"


def refuse_another_topology(stack: Stack) -> None:
    """A running stack keeps its topology; Kafka's data keeps the broker count it was formatted
    for (its controllers' quorum): another one needs that data removed."""
    s, recorded = stack.settings, topologies.recorded(stack.settings.stack_dir)
    if recorded and recorded != s.topology and stack.supervisor.running():
        sys.exit(f"the stack runs with {describe(recorded)}: make dev-down first")
    formatted = kafka.formatted_brokers(s)
    if formatted and formatted != s.topology.brokers:
        sys.exit(
            f"Kafka's data in {s.stack_dir} is for {formatted} broker(s), not "
            f"{s.topology.brokers}: make dev-up brokers={formatted}, or (its events go) "
            f"make dev-down; rm -rf {s.stack_dir}/kafka*, or another STACK_DIR"
        )


def refuse_taken_ports(s: Settings) -> None:
    """Before a fresh start: the compose stack (or anything else) must not hold our ports."""
    taken = [f"{name}={port}" for name, port in s.ports().items() if tcp_open(port)]
    if taken:
        sys.exit(
            f"ports already taken: {', '.join(taken)}. Is the compose stack up (make down)? "
            "Both ways to run use the same ports."
        )


def down(stack: Stack, _: str | None) -> int:
    stack.supervisor.shutdown()
    log.info("stack down")
    return 0


def status(stack: Stack, _: str | None) -> int:
    if not stack.supervisor.running():
        log.info("stack is not running")
        return 3
    result = stack.supervisor.ctl("status")
    sys.stdout.write(result.stdout)
    return 0 if all(" RUNNING " in line for line in result.stdout.splitlines()) else 3


def stop(stack: Stack, name: str | None) -> int:
    stack.supervisor.stop(*stack.named(str(name)))
    return 0


def start(stack: Stack, name: str | None) -> int:
    stack.supervisor.start(*stack.named(str(name)))
    return 0


def kill(stack: Stack, name: str | None, stay_down: bool = False) -> int:
    stack.supervisor.kill(*stack.named(str(name)), stay_down=stay_down)
    return 0


def logs(stack: Stack, name: str | None) -> int:
    """One process's log (`logs orders-2`; a role's name is its first replica's process)."""
    path = stack.settings.logs / f"{name or 'supervisord'}.log"
    lines = path.read_text(errors="replace").splitlines()[-200:] if path.exists() else []
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def exec_with_env(argv: list[str]) -> None:
    """Replace this process with `argv`, its environment completed from .env.example/.env."""
    if not argv:
        sys.exit("exec needs a command")
    env = topologies.stack_env(settings.ROOT)
    os.execvpe(argv[0], argv, env)  # noqa: S606 (the supervisor's own configured command)


Command = Callable[[Stack, str | None], int]
COMMANDS: dict[str, tuple[Command, str]] = {
    "up": (up, "start everything, migrate, wait until every /health/ready is 200"),
    "down": (down, "stop everything; no process of the stack is left running"),
    "status": (status, "one line per process"),
    "stop": (stop, "stop one process"),
    "start": (start, "start one process again and wait until it is ready"),
    "kill": (kill, "SIGKILL one process, as a crash would (the supervisor restarts it)"),
    "logs": (logs, "the tail of a process's log file (the supervisor's without NAME)"),
}


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="stack",
        description="The native stack: PostgreSQL, Redis, Kafka, nginx and the services under "
        "one supervisor.",
    )
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text, description=help_text)
        if name in ("stop", "start", "kill", "logs"):
            command.add_argument(
                "name",
                metavar="NAME",
                nargs="?" if name == "logs" else None,
                help=f"one of: {', '.join(NAMES)} (a role: every replica), or a replica: kafka-2",
            )
        if name == "kill":
            command.add_argument(
                "--stay-down", action="store_true", help="stopped after the kill until `start`"
            )
    exec_help = "run CMD with .env.example, .env and the environment (what the processes see)"
    commands.add_parser("exec", help=exec_help, description=exec_help).add_argument(
        "argv", nargs=argparse.REMAINDER, metavar="CMD"
    )
    return main_parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "exec":
        exec_with_env(args.argv)
    logging.basicConfig(level=logging.INFO, format="stack: %(message)s")
    stack = Stack(settings.load(requested=args.command == "up"))
    if args.command == "kill":
        return kill(stack, args.name, args.stay_down)
    command, _ = COMMANDS[args.command]
    return command(stack, getattr(args, "name", None))
