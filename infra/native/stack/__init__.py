"""The native stack: PostgreSQL, Redis, Kafka, nginx and the services under one supervisor.

Run as `python infra/native/stack COMMAND` (from any directory; `make dev-*` does). One module
per concern:

    cli.py         the commands (up, down, status, stop, start, kill, logs, exec)
    settings.py    ROOT, STACK_DIR, KAFKA_HOME, the ports: read once per command
    programs.py    the topology: every program, its command, directory and readiness probe
    postgres.py    initdb, psql, each service's role and databases
    kafka.py       server.properties, the storage format, the topics
    nginx.py       the gateway's configuration
    supervisor.py  the supervisor's configuration and supervisorctl: start, stop, kill
    probes.py      readiness probes (a port, an HTTP 200, a Redis PONG)
    shell.py       running a set-up command, waiting for a probe

The process names and their start order come from `stack_control.processes`, which the fault
tests share.
"""
