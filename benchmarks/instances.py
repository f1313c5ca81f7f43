"""What the bench starts for itself, each a context manager that stops what it started: API
instances and ceiling apps under uvicorn (one worker, no access log, pinned to a core), a
redis-server and an nginx gateway of its own, scratch databases migrated with Alembic.

Nothing here touches the stack's processes: the bench only uses the stack's PostgreSQL (through
`*_bench` databases) and Kafka (through `bench.*` topics). The RSS of every process the bench
stopped is kept in `RSS_KB` for the report.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
WORK = ROOT / "artifacts" / "bench-run"
RESULTS = BENCH_DIR / "results"
SERVER_CORE, CLIENT_CORE = "0", "1"
# label -> resident set size (kB) of a process (and its children) just before the bench stopped it
RSS_KB: dict[str, int] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(core: str | None, command: list[str]) -> list[str]:
    return ["taskset", "-c", core, *command] if core is not None else command


def rss_kb(pid: int) -> int:
    """VmRSS of `pid` and its descendants (nginx's worker, celery's none: threads)."""
    total = 0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        total += next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmRSS:")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += rss_kb(int(child))
    except (OSError, StopIteration):
        pass
    return total


@dataclass
class Proc:
    label: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def process(
    label: str,
    command: list[str],
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    core: str | None = SERVER_CORE,
) -> Iterator[Proc]:
    """A child process, its output in artifacts/bench-run/<label>.log, stopped at the end."""
    WORK.mkdir(parents=True, exist_ok=True)
    with (WORK / f"{label}.log").open("ab") as log:
        child = subprocess.Popen(
            pinned(core, command),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    proc = Proc(label, child)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: Proc) -> None:
    """SIGTERM (its RSS noted first), SIGKILL if it does not stop; nothing if it is gone."""
    child = proc.process
    if child.poll() is None:
        os.kill(child.pid, signal.SIGCONT)  # a frozen child cannot handle SIGTERM
        RSS_KB[proc.label] = rss_kb(child.pid)
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def wait_until_up(url: str, proc: Proc, seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise RuntimeError(f"{proc.label} exited; see {WORK / proc.label}.log")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{proc.label} did not answer {url}")


@dataclass
class Server:
    label: str
    url: str
    proc: Proc


@contextmanager
def uvicorn(
    label: str,
    app: str,
    cwd: Path,
    env: dict[str, str],
    *,
    factory: bool = False,
    probe: str = "/health/live",
    core: str | None = SERVER_CORE,
) -> Iterator[Server]:
    """One uvicorn worker on a free port of 127.0.0.1, pinned to the server's core, the same
    options for the services and the ceilings."""
    port = free_port()
    options = "--host 127.0.0.1 --no-access-log --no-proxy-headers --log-level warning"
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port), *options.split()]
    if factory:
        command.append("--factory")
    with process(label, command, cwd=cwd, env=env, core=core) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url + probe, proc)
        yield Server(label, url, proc)


def orders(
    label: str, core: str | None = SERVER_CORE, **env: str
) -> AbstractContextManager[Server]:
    """An orders-service instance (log level WARNING); `env` overrides the stack's settings."""
    settings = {"ORDERS_LOG_LEVEL": "WARNING", **env}
    cwd = ROOT / "services" / "orders-service"
    return uvicorn(label, "orders_service.main:app", cwd, settings, core=core)


def auth(label: str, **env: str) -> AbstractContextManager[Server]:
    settings = {"AUTH_LOG_LEVEL": "WARNING", "AUTH_RATE_LIMIT_ENABLED": "false", **env}
    return uvicorn(label, "auth_service.main:app", ROOT / "services" / "auth-service", settings)


def ceiling(label: str, factory: str, **env: str) -> AbstractContextManager[Server]:
    """An app of benchmarks/ceilings.py (`factory` names its function)."""
    return uvicorn(label, f"ceilings:{factory}", BENCH_DIR, env, factory=True, probe="/health")


@dataclass
class Redis:
    url: str
    proc: Proc

    def db(self, number: int) -> str:
        return f"{self.url}/{number}"


@contextmanager
def redis_server(label: str = "redis") -> Iterator[Redis]:
    """A redis-server of the bench's own (no persistence): it may be stopped or frozen. Pinned
    to the load generator's core, as a Redis of its own machine would be: the server's core is
    the server's, whatever share of Redis's work its requests cause."""
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="redis-", dir=_work()))
    options = f"--port {port} --bind 127.0.0.1 --appendonly no --dir {data}".split()
    command = [shutil.which("redis-server") or "redis-server", *options, "--save", ""]
    with process(label, command, core=CLIENT_CORE) as proc:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield Redis(f"redis://127.0.0.1:{port}", proc)


def _work() -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    return WORK


def native_stack(module: str) -> Any:
    """A module of the native stack's own command line (infra/native/stack, a package run as a
    folder): the bench builds what the stack builds, from the same code."""
    folder = str(ROOT / "infra" / "native")
    if folder not in sys.path:
        sys.path.append(folder)
    return importlib.import_module(f"stack.{module}")


@contextmanager
def gateway(orders_url: str, auth_url: str, core: str | None) -> Iterator[Server]:
    """nginx configured by the native stack's own code (infra/native/stack/nginx.py: the routes
    of infra/nginx/gateway.conf.template, its http block, upstream connections from 127.0.0.2),
    its upstreams the bench's instances, its files under artifacts/bench-run/gateway/."""
    nginx, stack_settings = native_stack("nginx"), native_stack("settings")
    ports = {
        "AUTH_PORT": str(urlsplit(auth_url).port),
        "ORDERS_PORT": str(urlsplit(orders_url).port),
        "GATEWAY_PORT": str(free_port()),
        "GATEWAY_BIND": "127.0.0.1",
    }
    settings = dataclasses.replace(
        stack_settings.load(), env={**os.environ, **ports}, stack_dir=_work() / "gateway"
    )
    settings.logs.mkdir(parents=True, exist_ok=True)
    nginx.write_config(settings)
    with process("gateway", shlex.split(nginx.command(settings)), core=core) as proc:
        wait_until_up(nginx.live_url(settings), proc)
        yield Server("gateway", f"http://127.0.0.1:{ports['GATEWAY_PORT']}", proc)
