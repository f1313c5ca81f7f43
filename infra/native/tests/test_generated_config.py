"""The generated configuration: supervisor, Kafka, nginx; paths under STACK_DIR, the
configured ports and nothing else."""

from __future__ import annotations

import configparser
import re
from dataclasses import replace

from stack import kafka, nginx
from stack.postgres import Postgres
from stack.programs import Program
from stack.settings import ROOT, Settings
from stack.supervisor import render_conf
from stack_control.processes import NAMES
from tests.support import DEFAULT_PORTS, MOVED_PORTS

LAUNCHER = "/venv/bin/python /repo/infra/native/stack"


def supervisor_conf(
    settings: Settings, programs: dict[str, Program]
) -> configparser.RawConfigParser:
    parsed = configparser.RawConfigParser()
    parsed.read_string(render_conf(settings, programs.values(), LAUNCHER))
    return parsed


def test_supervisor_runs_every_program_stopped_until_up_starts_it(
    settings: Settings, programs: dict[str, Program]
) -> None:
    conf = supervisor_conf(settings, programs)
    sections = [s.removeprefix("program:") for s in conf.sections() if s.startswith("program:")]
    assert sections == list(NAMES)
    for name in NAMES:
        program = conf[f"program:{name}"]
        assert program["autostart"] == "false"
        assert program["autorestart"] == "unexpected"  # a killed process comes back
        assert program["stdout_logfile"] == str(settings.logs / f"{name}.log")


def test_programs_of_this_user_start_through_exec_with_the_stacks_configuration(
    settings: Settings, programs: dict[str, Program]
) -> None:
    conf = supervisor_conf(settings, programs)
    assert conf["program:auth"]["command"] == f"{LAUNCHER} exec {programs['auth'].command}"


def test_a_program_with_a_user_is_started_by_the_supervisor_as_that_user(
    settings: Settings, programs: dict[str, Program]
) -> None:
    as_postgres = {**programs, "postgres": replace(programs["postgres"], user="postgres")}
    conf = supervisor_conf(settings, as_postgres)
    assert conf["program:postgres"]["user"] == "postgres"
    assert conf["program:postgres"]["command"] == programs["postgres"].command
    assert "user" not in conf["program:redis"]


def test_supervisor_socket_is_short_and_one_per_stack(settings: Settings) -> None:
    conf = configparser.RawConfigParser()
    conf.read_string(render_conf(settings, [], LAUNCHER))
    socket = conf["unix_http_server"]["file"]
    assert len(socket) < 100
    assert conf["supervisorctl"]["serverurl"] == f"unix://{socket}"
    assert settings.digest in socket


def test_kafka_listens_on_the_configured_ports_and_keeps_its_data_in_stack_dir(
    settings: Settings,
) -> None:
    props = kafka.server_properties(settings)
    kp, cp = MOVED_PORTS["KAFKA_PORT"], MOVED_PORTS["KAFKA_CONTROLLER_PORT"]
    assert props["listeners"] == f"PLAINTEXT://127.0.0.1:{kp},CONTROLLER://127.0.0.1:{cp}"
    assert props["controller.quorum.voters"] == f"1@127.0.0.1:{cp}"
    assert props["log.dirs"] == str(settings.stack_dir / "kafka" / "data")
    assert props["auto.create.topics.enable"] == "false"  # the stack creates kafka.TOPICS


def test_nginx_routes_to_the_configured_upstreams(settings: Settings) -> None:
    conf = nginx.gateway_conf(settings, (ROOT / nginx.TEMPLATE).read_text())
    http = nginx.nginx_conf(settings)
    # the routes name upstream groups whose connections are kept alive
    assert "set $auth_service auth_service;" in conf
    assert "set $orders_service orders_service;" in conf
    assert 'proxy_set_header Connection "";' in conf
    for name, port in (("auth", "AUTH_PORT"), ("orders", "ORDERS_PORT")):
        group = re.search(rf"upstream {name}_service {{(.*?)}}", http, re.S)
        assert group, http
        assert f"server 127.0.0.1:{MOVED_PORTS[port]};" in group.group(1)
        assert "keepalive " in group.group(1)
    assert f"{settings.env['GATEWAY_BIND']}:{MOVED_PORTS['GATEWAY_PORT']}" in conf
    assert not re.search(
        r"\$\{?(AUTH_UPSTREAM|ORDERS_UPSTREAM|GATEWAY_LISTEN|GATEWAY_RESOLVER)", conf
    )


def test_nothing_generated_names_a_default_port(
    settings: Settings, programs: dict[str, Program]
) -> None:
    generated = {
        "supervisord.conf": render_conf(settings, programs.values(), LAUNCHER),
        "server.properties": "\n".join(kafka.server_properties(settings).values()),
        "gateway.conf": nginx.gateway_conf(settings, (ROOT / nginx.TEMPLATE).read_text()),
        "nginx.conf": nginx.nginx_conf(settings),
    }
    assert {name: DEFAULT_PORTS.findall(text) for name, text in generated.items()} == {
        name: [] for name in generated
    }


def test_postgres_runs_as_root_as_the_postgres_user(settings: Settings) -> None:
    assert Postgres(settings).user is None
    as_root = Settings(settings.root, settings.env, settings.stack_dir, settings.kafka_home, True)
    assert Postgres(as_root).user == "postgres"
