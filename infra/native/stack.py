"""The native stack: PostgreSQL, Redis, Kafka, nginx and the services under one supervisor.

Usage (through `make dev-*`):
    stack.py up                 start everything, migrate, wait until every /health/ready is 200
    stack.py down               stop everything; no process of the stack is left running
    stack.py status             one line per process
    stack.py stop NAME          stop one process (postgres, redis, kafka, gateway, auth, ...)
    stack.py start NAME         start it again and wait until it is ready
    stack.py kill NAME          SIGKILL it, as a crash would (the supervisor restarts it)
    stack.py logs [NAME]        the tail of a process's log file

State (data, logs, generated config) lives in $STACK_DIR (default: <repo>/.stack, git-ignored).
Values come from .env.example, overridden by .env, overridden by the environment.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import re
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from stack_control.env import load_env

log = logging.getLogger("stack")

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
# One place for the version: the POM that fetches the jars (infra/native/install.sh reads it too).
KAFKA_VERSION = re.search(
    r"<kafka.version>(.+?)</kafka.version>", (ROOT / "infra/kafka/pom.xml").read_text()
).group(1)  # type: ignore[union-attr]
PORTS = ("GATEWAY", "AUTH", "ORDERS", "PROCESSOR", "POSTGRES", "REDIS", "KAFKA", "KAFKA_CONTROLLER")
TOPICS = {"new_order": 3, "new_order.dlq": 1}
SERVICES = ("auth", "orders", "relay", "processor", "consumer", "worker", "gateway")


ENV = load_env(ROOT)
STACK_DIR = Path(ENV.get("STACK_DIR", str(ROOT / ".stack"))).resolve()
KAFKA_HOME = Path(
    ENV.get("KAFKA_HOME", str(Path.home() / ".cache" / "orders-stack" / f"kafka-{KAFKA_VERSION}"))
)
IS_ROOT = os.geteuid() == 0


def port(name: str) -> int:
    return int(ENV[f"{name}_PORT"])


@dataclass(frozen=True)
class Program:
    name: str
    command: str
    ready: Callable[[], bool]
    directory: Path = ROOT
    user: str | None = None
    stop_signal: str = "TERM"
    stop_wait: int = 20


# --------------------------------------------------------------------------- readiness probes


def tcp_open(p: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", p), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (fixed local URL)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def postgres_ready() -> bool:
    result = subprocess.run(
        [pg_bin("pg_isready"), "-h", str(pg_socket_dir()), "-p", str(port("POSTGRES"))],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def redis_ready() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port("REDIS")), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def kafka_ready() -> bool:
    if not tcp_open(port("KAFKA")):
        return False
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port('KAFKA')}"})
    try:
        admin.list_topics(timeout=3)
    except Exception:
        return False
    return True


def service_ready(p: int) -> Callable[[], bool]:
    return lambda: http_ok(f"http://127.0.0.1:{p}/health/ready")


# --------------------------------------------------------------------------- programs


def pg_bin(tool: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), key=lambda p: p.parts[-3])
    if found:
        return str(found[-1])
    which = shutil.which(tool)
    if not which:
        sys.exit(f"PostgreSQL's {tool} is not installed; run infra/native/install.sh")
    return which


def pg_root() -> Path:
    """PostgreSQL refuses to run as root: as root, its files belong to the `postgres` user,
    which must be able to reach them; when it cannot reach STACK_DIR, use /var/tmp."""
    if not IS_ROOT:
        return STACK_DIR / "postgres"
    probe = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(STACK_DIR)],
        capture_output=True,
        check=False,
    )
    if probe.returncode == 0:
        return STACK_DIR / "postgres"
    digest = uuid.uuid5(uuid.NAMESPACE_URL, str(STACK_DIR)).hex[:12]
    return Path("/var/tmp") / f"orders-stack-{digest}" / "postgres"  # noqa: S108 (fixed, per-stack)


def socket_root() -> Path:
    """Unix sockets (supervisor's, PostgreSQL's) live under a short path in /tmp: a socket path
    must stay under ~107 bytes, however deep the repository is checked out."""
    digest = uuid.uuid5(uuid.NAMESPACE_URL, str(STACK_DIR)).hex[:12]
    return Path(tempfile.gettempdir()) / f"orders-stack-{digest}"


def pg_socket_dir() -> Path:
    return socket_root() / "pg"


def programs() -> list[Program]:
    py = VENV_BIN
    pg = pg_root()
    services = ROOT / "services"
    return [
        Program(
            "postgres",
            f"{pg_bin('postgres')} -D {pg / 'data'} -p {port('POSTGRES')} "
            f"-k {pg_socket_dir()} -c listen_addresses=127.0.0.1",
            postgres_ready,
            directory=pg,  # as `postgres`, the repository itself may be out of reach
            user="postgres" if IS_ROOT else None,
            stop_signal="INT",
            stop_wait=30,
        ),
        Program(
            "redis",
            f"{shutil.which('redis-server') or 'redis-server'} --port {port('REDIS')} "
            f"--bind 127.0.0.1 --dir {STACK_DIR / 'redis'} --appendonly yes "
            "--appendfsync everysec --save '' --daemonize no",
            redis_ready,
        ),
        Program(
            "kafka",
            f"java -Xms256m -Xmx768m -XX:+UseG1GC "
            f"-Dlog4j2.configurationFile={ROOT / 'infra/kafka/log4j2.properties'} "
            f"-cp '{KAFKA_HOME / 'libs'}/*' kafka.Kafka {STACK_DIR / 'kafka/server.properties'}",
            kafka_ready,
            stop_wait=40,
        ),
        Program(
            "auth",
            f"{py / 'uvicorn'} auth_service.main:app --host 127.0.0.1 --port {port('AUTH')} "
            "--no-access-log --no-proxy-headers",
            service_ready(port("AUTH")),
            directory=services / "auth-service",
        ),
        Program(
            "orders",
            f"{py / 'uvicorn'} orders_service.main:app --host 127.0.0.1 --port {port('ORDERS')} "
            "--no-access-log --no-proxy-headers",
            service_ready(port("ORDERS")),
            directory=services / "orders-service",
        ),
        Program(
            "relay",
            f"{py / 'python'} -m orders_service.outbox_relay",
            lambda: True,
            directory=services / "orders-service",
            stop_wait=30,
        ),
        Program(
            "processor",
            f"{py / 'uvicorn'} order_processor.main:app --host 127.0.0.1 "
            f"--port {port('PROCESSOR')} --no-access-log --no-proxy-headers",
            service_ready(port("PROCESSOR")),
            directory=services / "order-processor",
        ),
        Program(
            "consumer",
            f"{py / 'python'} -m order_processor.consumer",
            lambda: True,
            directory=services / "order-processor",
            stop_wait=30,
        ),
        Program(
            "worker",
            f"{py / 'celery'} -A order_processor.celery_app worker --loglevel INFO "
            "--hostname worker@%%h",
            lambda: True,
            directory=services / "order-processor",
            stop_wait=30,
        ),
        Program(
            "gateway",
            f"{shutil.which('nginx') or '/usr/sbin/nginx'} -p {STACK_DIR / 'nginx'} "
            f"-c {STACK_DIR / 'nginx/nginx.conf'} -e {STACK_DIR / 'logs/gateway-error.log'}",
            lambda: http_ok(f"http://{ENV['GATEWAY_BIND']}:{port('GATEWAY')}/health/live"),
        ),
    ]


def program(name: str) -> Program:
    for p in programs():
        if p.name == name:
            return p
    sys.exit(f"unknown process {name!r}; one of: {', '.join(p.name for p in programs())}")


# --------------------------------------------------------------------------- generated config


def write_supervisor_conf() -> Path:
    logs = STACK_DIR / "logs"
    lines = [
        "[unix_http_server]",
        f"file={socket_root() / 'supervisor.sock'}",
        "chmod=0700",
        "[supervisord]",
        f"logfile={logs / 'supervisord.log'}",
        f"pidfile={STACK_DIR / 'supervisord.pid'}",
        f"childlogdir={logs}",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{socket_root() / 'supervisor.sock'}",
    ]
    for p in programs():
        # Programs that run as this user start through `stack.py exec`, which reads .env.example
        # and .env at every start: a changed value needs a restart of the process, not the stack.
        command = (
            p.command if p.user else f"{sys.executable} {Path(__file__).resolve()} exec {p.command}"
        )
        lines += [
            f"[program:{p.name}]",
            f"command={command}",
            f"directory={p.directory}",
            "autostart=false",
            "autorestart=unexpected",
            "startsecs=1",
            "startretries=3",
            f"stopsignal={p.stop_signal}",
            f"stopwaitsecs={p.stop_wait}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={logs / (p.name + '.log')}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
        ]
        if p.user:
            lines.append(f"user={p.user}")
    conf = STACK_DIR / "supervisord.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def write_nginx_conf() -> None:
    root = STACK_DIR / "nginx"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    template = (ROOT / "infra/nginx/gateway.conf.template").read_text()
    server = string.Template(template).safe_substitute(
        AUTH_UPSTREAM=f"127.0.0.1:{port('AUTH')}",
        ORDERS_UPSTREAM=f"127.0.0.1:{port('ORDERS')}",
        GATEWAY_LISTEN=f"{ENV['GATEWAY_BIND']}:{port('GATEWAY')}",
        GATEWAY_RESOLVER="",  # addresses, not names: nothing to resolve
    )
    (root / "gateway.conf").write_text(server)
    tmp = root / "tmp"
    (root / "nginx.conf").write_text(
        f"""daemon off;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {STACK_DIR / "logs/gateway-error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log {STACK_DIR / "logs/gateway-access.log"};
    # Upstream connections come from 127.0.0.2: the services trust X-Forwarded-For from there
    # only (*_TRUSTED_PROXIES), not from every local client.
    proxy_bind 127.0.0.2;
    client_body_temp_path {tmp / "client_body"};
    proxy_temp_path {tmp / "proxy"};
    fastcgi_temp_path {tmp / "fastcgi"};
    uwsgi_temp_path {tmp / "uwsgi"};
    scgi_temp_path {tmp / "scgi"};
    include {root / "gateway.conf"};
}}
"""
    )


def write_kafka_conf() -> None:
    data = STACK_DIR / "kafka" / "data"
    data.mkdir(parents=True, exist_ok=True)
    kp, cp = port("KAFKA"), port("KAFKA_CONTROLLER")
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{cp}",
        "listeners": f"PLAINTEXT://127.0.0.1:{kp},CONTROLLER://127.0.0.1:{cp}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{kp}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": "3",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "min.insync.replicas": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "168",
    }
    conf = STACK_DIR / "kafka" / "server.properties"
    conf.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    if not (data / "meta.properties").exists():
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        run(
            [
                "java",
                f"-Dlog4j2.configurationFile={ROOT / 'infra/kafka/log4j2.properties'}",
                "-cp",
                f"{KAFKA_HOME / 'libs'}/*",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(conf),
            ]
        )


def init_postgres() -> None:
    root = pg_root()
    data = root / "data"
    root.mkdir(parents=True, exist_ok=True)
    pg_socket_dir().mkdir(parents=True, exist_ok=True)
    if IS_ROOT:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(pg_socket_dir(), "postgres", "postgres")
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    if IS_ROOT:
        shutil.chown(data, "postgres", "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"] if IS_ROOT else []
    run(
        [
            *as_pg,
            pg_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-instructions",
        ]
    )
    with (data / "postgresql.conf").open("a") as conf:
        conf.write("\nfsync = on\nmax_connections = 200\nshared_buffers = 256MB\n")


def psql(sql: str, **variables: str) -> str:
    """Run SQL as the superuser over the local socket; values are bound as psql variables
    (`:'name'` for a literal, `:"name"` for an identifier), never pasted into the text."""
    args = [
        pg_bin("psql"),
        "-h",
        str(pg_socket_dir()),
        "-p",
        str(port("POSTGRES")),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-tAq",
    ]
    for key, value in variables.items():
        args += ["-v", f"{key}={value}"]
    result = subprocess.run(args, input=sql, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"psql failed: {result.stderr.strip()}")
    return result.stdout.strip()


def ensure_databases() -> None:
    """One role and two databases per service (the service's and its tests'), from the
    services' DATABASE_URLs."""
    for prefix in ("AUTH", "ORDERS", "PROCESSOR"):
        url = urlsplit(ENV[f"{prefix}_DATABASE_URL"].replace("+asyncpg", ""))
        role, password, db = url.username, url.password, url.path.lstrip("/")
        if not (role and password and db):
            sys.exit(f"{prefix}_DATABASE_URL needs a user, a password and a database")
        names = {"role": role, "password": password, "db": db}
        if psql("SELECT 1 FROM pg_roles WHERE rolname = :'role'", **names) != "1":
            psql('CREATE ROLE :"role" LOGIN', **names)
        psql("ALTER ROLE :\"role\" WITH LOGIN PASSWORD :'password'", **names)
        for name in (db, f"{db}_test"):
            names["db"] = name
            if psql("SELECT 1 FROM pg_database WHERE datname = :'db'", **names) != "1":
                psql('CREATE DATABASE :"db" OWNER :"role"', **names)


def ensure_topics() -> None:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port('KAFKA')}"})
    existing = admin.list_topics(timeout=10).topics
    missing = [
        NewTopic(name, num_partitions=parts, replication_factor=1)
        for name, parts in TOPICS.items()
        if name not in existing
    ]
    for name, future in admin.create_topics(missing).items() if missing else []:
        future.result(timeout=30)
        log.info("created topic %s", name)


def migrate() -> None:
    for folder in ("auth-service", "orders-service", "order-processor"):
        run([str(VENV_BIN / "alembic"), "upgrade", "head"], cwd=ROOT / "services" / folder)


# --------------------------------------------------------------------------- supervisor


def run(cmd: list[str], cwd: Path = ROOT) -> None:
    result = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")


def supervisorctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "supervisorctl"), "-c", str(STACK_DIR / "supervisord.conf"), *args],
        capture_output=True,
        text=True,
        check=False,
        env=ENV,
    )


def supervisor_running() -> bool:
    return (STACK_DIR / "supervisord.conf").exists() and supervisorctl(
        "pid"
    ).stdout.strip().isdigit()


def start_supervisor() -> None:
    for sub in ("logs", "redis"):
        (STACK_DIR / sub).mkdir(parents=True, exist_ok=True)
    socket_root().mkdir(parents=True, exist_ok=True)
    if supervisor_running():
        # Apply a changed command line: programs whose configuration changed are replaced
        # (stopped), and started again by `up`.
        write_supervisor_conf()
        supervisorctl("reread")
        supervisorctl("update")
        return
    conf = write_supervisor_conf()
    subprocess.run([str(VENV_BIN / "supervisord"), "-c", str(conf)], env=ENV, check=True, cwd=ROOT)
    wait_for("supervisor", supervisor_running, 15)


def wait_for(name: str, probe: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.25)
    sys.exit(f"{name} was not ready within {seconds:.0f} s; see {STACK_DIR / 'logs'}")


def start(name: str, seconds: float = 90) -> None:
    p = program(name)
    result = supervisorctl("start", name)
    if result.returncode != 0 and "already started" not in result.stdout:
        tail = (STACK_DIR / "logs" / f"{name}.log").read_text()[-3000:]
        sys.exit(f"{name} did not start: {result.stdout.strip()}\n{tail}")
    wait_for(name, p.ready, seconds)
    log.info("%-9s ready", name)


def stop(name: str) -> None:
    program(name)
    supervisorctl("stop", name)
    log.info("%-9s stopped", name)


def kill(name: str) -> None:
    """SIGKILL, as a crash would: the supervisor starts the process again by itself."""
    program(name)
    result = supervisorctl("signal", "KILL", name)
    if result.returncode != 0:
        sys.exit(f"could not kill {name}: {result.stdout.strip()}")
    log.info("%-9s killed", name)


# --------------------------------------------------------------------------- commands


def refuse_taken_ports() -> None:
    """Before a fresh start: the compose stack (or anything else) must not hold our ports."""
    taken = [f"{name}_PORT={port(name)}" for name in PORTS if tcp_open(port(name))]
    if taken:
        sys.exit(
            f"ports already taken: {', '.join(taken)}. Is the compose stack up (make down)? "
            "Both ways to run use the same ports."
        )


def up() -> None:
    started = time.monotonic()
    STACK_DIR.mkdir(parents=True, exist_ok=True)
    if not supervisor_running():
        refuse_taken_ports()
    if not (KAFKA_HOME / "libs").is_dir():
        sys.exit(f"Kafka jars not found in {KAFKA_HOME}; run infra/native/install.sh")
    init_postgres()
    write_kafka_conf()
    write_nginx_conf()
    start_supervisor()
    for name in ("postgres", "redis", "kafka"):
        start(name)
    ensure_databases()
    ensure_topics()
    migrate()
    for name in SERVICES:
        start(name)
    log.info("stack up in %.0f s", time.monotonic() - started)
    gw = port("GATEWAY")
    for label, url in (
        ("gateway", f"http://127.0.0.1:{gw}"),
        ("auth docs", f"http://127.0.0.1:{port('AUTH')}/docs"),
        ("orders docs", f"http://127.0.0.1:{port('ORDERS')}/docs"),
        ("processor docs", f"http://127.0.0.1:{port('PROCESSOR')}/docs"),
    ):
        log.info("%-15s %s", label, url)


def down() -> None:
    if supervisor_running():
        # services first, then the servers they depend on
        for name in reversed(SERVICES):
            supervisorctl("stop", name)
        supervisorctl("stop", "all")
        supervisorctl("shutdown")
        wait_for("supervisor shutdown", lambda: not supervisor_running(), 60)
    pidfile = STACK_DIR / "supervisord.pid"
    deadline = time.monotonic() + 30
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    log.info("stack down")


def status() -> int:
    if not supervisor_running():
        log.info("stack is not running")
        return 3
    result = supervisorctl("status")
    sys.stdout.write(result.stdout)
    return 0 if all(" RUNNING " in line for line in result.stdout.splitlines()) else 3


def logs(name: str | None) -> None:
    path = STACK_DIR / "logs" / f"{name or 'supervisord'}.log"
    lines = path.read_text(errors="replace").splitlines()[-200:] if path.exists() else []
    sys.stdout.write("\n".join(lines) + "\n")


def exec_with_env(argv: list[str]) -> None:
    """Replace this process with `argv`, its environment completed from .env.example/.env."""
    os.execvpe(argv[0], argv, ENV)  # noqa: S606 (the supervisor's own configured command)


def main() -> int:
    if sys.argv[1:2] == ["exec"]:
        exec_with_env(sys.argv[2:])
    logging.basicConfig(level=logging.INFO, format="stack: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "command", choices=["up", "down", "status", "stop", "start", "kill", "logs"]
    )
    parser.add_argument("name", nargs="?")
    args = parser.parse_args()
    if args.command in ("stop", "start", "kill") and not args.name:
        parser.error(f"{args.command} needs a process name")
    if args.command == "up":
        up()
    elif args.command == "down":
        down()
    elif args.command == "status":
        return status()
    elif args.command == "stop":
        stop(args.name)
    elif args.command == "start":
        start(args.name)
    elif args.command == "kill":
        kill(args.name)
    else:
        logs(args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
