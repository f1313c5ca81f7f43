"""The supervisor that runs every program: its generated configuration, and `supervisorctl` to
start, stop and kill one program or shut everything down.

Programs that run as this user start through `python infra/native/stack exec`, which reads
.env.example and .env at every start: a changed value needs a restart of the process, not of the
stack.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from stack_control.processes import SERVICES

from .programs import Program
from .settings import Settings
from .shell import wait_for

log = logging.getLogger("stack")


def launcher() -> str:
    """How the supervisor calls this package: this interpreter and the package's folder."""
    return f"{sys.executable} {Path(__file__).resolve().parent}"


def render_conf(settings: Settings, programs: Iterable[Program], launcher: str) -> str:
    logs, sock = settings.logs, settings.socket_root / "supervisor.sock"
    lines = [
        "[unix_http_server]",
        f"file={sock}",
        "chmod=0700",
        "[supervisord]",
        f"logfile={logs / 'supervisord.log'}",
        f"pidfile={settings.stack_dir / 'supervisord.pid'}",
        f"childlogdir={logs}",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{sock}",
    ]
    for p in programs:
        command = p.command if p.user else f"{launcher} exec {p.command}"
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
    return "\n".join(lines) + "\n"


def _alive(pid: str) -> bool:
    return pid.isdigit() and Path(f"/proc/{pid}").exists()


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conf = settings.stack_dir / "supervisord.conf"

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.settings.venv_bin / "supervisorctl"), "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            check=False,
            env=self.settings.env,
        )

    def running(self) -> bool:
        return self.conf.exists() and self.ctl("pid").stdout.strip().isdigit()

    def write_conf(self, programs: Iterable[Program]) -> None:
        self.conf.write_text(render_conf(self.settings, programs, launcher()))

    def boot(self, programs: Iterable[Program]) -> None:
        """Start supervisord with every program stopped; when it runs already, apply a changed
        command line: programs whose configuration changed are replaced (stopped), and started
        again by `up`."""
        self.settings.logs.mkdir(parents=True, exist_ok=True)
        self.settings.socket_root.mkdir(parents=True, exist_ok=True)
        if self.running():
            self.write_conf(programs)
            self.ctl("reread")
            self.ctl("update")
            return
        self.write_conf(programs)
        subprocess.run(
            [str(self.settings.venv_bin / "supervisord"), "-c", str(self.conf)],
            env=self.settings.env,
            check=True,
            cwd=self.settings.root,
        )
        wait_for(self.settings, "supervisor", self.running, 15)

    def start(self, *programs: Program, seconds: float = 90) -> None:
        """Start `programs` together, then wait until each is ready (three Kafka brokers are
        ready only together: a controller alone has no quorum)."""
        for program in programs:
            result = self.ctl("start", program.name)
            if result.returncode != 0 and "already started" not in result.stdout:
                log_file = self.settings.logs / f"{program.name}.log"
                tail = log_file.read_text()[-3000:] if log_file.exists() else ""
                sys.exit(f"{program.name} did not start: {result.stdout.strip()}\n{tail}")
        for program in programs:
            wait_for(self.settings, program.name, program.ready, seconds)
            log.info("%-9s ready", program.name)

    def stop(self, *programs: Program) -> None:
        """Stop `programs` at once, not one after the other: brokers stopped in turn would
        leave the last ones without a controller quorum to shut down cleanly with."""
        running = [
            subprocess.Popen(
                [
                    str(self.settings.venv_bin / "supervisorctl"),
                    "-c",
                    str(self.conf),
                    "stop",
                    program.name,
                ],
                stdout=subprocess.DEVNULL,
                env=self.settings.env,
            )
            for program in programs
        ]
        for process, program in zip(running, programs, strict=True):
            process.wait()
            log.info("%-9s stopped", program.name)

    def kill(self, *programs: Program, stay_down: bool = False) -> None:
        """SIGKILL, as a crash would, all `programs` in one call (a role's replicas crash
        together): the supervisor starts each again by itself; with `stay_down`, the
        restarted one is stopped at once, until `start`."""
        names = [program.name for program in programs]
        pids = [self.ctl("pid", name).stdout.strip() for name in names] if stay_down else []
        result = self.ctl("signal", "KILL", *names)
        if result.returncode != 0:
            sys.exit(f"could not kill {', '.join(names)}: {result.stdout.strip()}")
        log.info("%-9s killed", ", ".join(names))
        for name, pid in zip(names, pids, strict=False):
            self._keep_down(name, pid)

    def _keep_down(self, name: str, pid: str) -> None:
        wait_for(self.settings, f"{name} gone", lambda: not _alive(pid), 30)
        wait_for(self.settings, f"{name} kept down", lambda: self._stopped(name), 30)
        log.info("%-9s kept down", name)

    def _stopped(self, name: str) -> bool:
        """Stopped for good; what `signal` ended may have been restarted meanwhile: stop it."""
        state = self.ctl("status", name).stdout.split()
        if len(state) > 1 and state[1] == "STOPPED":
            return True
        self.ctl("stop", name)
        return False

    def shutdown(self) -> None:
        """Stop the services first, then the servers they depend on, then supervisord; return
        once its pid file is gone."""
        if self.running():
            for role in reversed(SERVICES):
                self.ctl("stop", *self.settings.topology.replicas_of(role))
            self.ctl("stop", "all")
            self.ctl("shutdown")
            wait_for(self.settings, "supervisor shutdown", lambda: not self.running(), 60)
        pidfile = self.settings.stack_dir / "supervisord.pid"
        deadline = time.monotonic() + 30
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
