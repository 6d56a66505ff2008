"""The local stack's servers as the tests and the bench use them: their ports, the stack script's
commands, and a RabbitMQ vhost or an auth database of a run's own, removed afterwards."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STACK_SCRIPT = REPO / "scripts" / "stack.sh"


@dataclass(frozen=True)
class Stack:
    """Where the local stack's servers listen: the variables and defaults of scripts/stack.sh."""

    rabbitmq_port: int
    mysql_port: int
    mongo_port: int
    smtp_port: int
    mail_dir: Path = REPO / ".stack" / "mail"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Stack:
        return cls(
            rabbitmq_port=int(environ.get("RABBITMQ_PORT", 5672)),
            mysql_port=int(environ.get("MYSQL_PORT", 3306)),
            mongo_port=int(environ.get("MONGO_PORT", 27017)),
            smtp_port=int(environ.get("SMTP_PORT", 1025)),
        )

    def amqp_url(self, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.rabbitmq_port}/{vhost}"

    def server_pid(self, name: str) -> int | None:
        """The pid of one of the stack's servers (mongo, rabbitmq, mysql), from its pid file."""
        try:
            return int((REPO / ".stack" / name / f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_stack(*args: str, stdin=None) -> subprocess.CompletedProcess:
    """Run `scripts/stack.sh ARGS...` (rabbitmqctl, mysql, start, stop ...); raise if it fails."""
    return subprocess.run([str(STACK_SCRIPT), *args], check=True, capture_output=True, text=True, stdin=stdin)


@contextlib.contextmanager
def fresh_vhost(stack: Stack, prefix: str):
    """A RabbitMQ vhost named ``prefix`` plus a random suffix; yields its AMQP URL, then deletes it."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:12]}"
    run_stack("rabbitmqctl", "add_vhost", vhost)
    run_stack("rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield stack.amqp_url(vhost)
    finally:
        run_stack("rabbitmqctl", "delete_vhost", vhost)


@contextlib.contextmanager
def fresh_auth_database(prefix: str):
    """A database named ``prefix`` plus a random suffix, with mysql-init/ loaded; dropped afterwards.

    Loaded as MariaDB's image loads it: the client runs each file, in name order, with the
    database selected.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    run_stack("mysql", "--execute", f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        for sql_file in sorted((REPO / "mysql-init").glob("*.sql")):
            with sql_file.open() as schema:
                run_stack("mysql", f"--database={name}", stdin=schema)
        yield name
    finally:
        run_stack("mysql", "--execute", f"DROP DATABASE IF EXISTS `{name}`")
