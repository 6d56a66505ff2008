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

import MySQLdb
import MySQLdb.constants.CLIENT

REPO = Path(__file__).resolve().parents[1]
STACK_SCRIPT = REPO / "scripts" / "stack.sh"


@dataclass(frozen=True)
class Stack:
    """Where the local stack's servers listen: the variables and defaults of scripts/stack.sh."""

    rabbitmq_port: int
    mysql_port: int
    mongo_port: int
    smtp_port: int
    # RabbitMQ's own Prometheus endpoint (its rabbitmq_prometheus plugin): queue depths.
    rabbitmq_prometheus_port: int = 15692
    mail_dir: Path = REPO / ".stack" / "mail"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Stack:
        return cls(
            rabbitmq_port=int(environ.get("RABBITMQ_PORT", 5672)),
            mysql_port=int(environ.get("MYSQL_PORT", 3306)),
            mongo_port=int(environ.get("MONGO_PORT", 27017)),
            smtp_port=int(environ.get("SMTP_PORT", 1025)),
            rabbitmq_prometheus_port=int(environ.get("RABBITMQ_PROMETHEUS_PORT", 15692)),
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
def fresh_auth_database(stack: Stack, prefix: str):
    """A database named ``prefix`` plus a random suffix, with mysql-init/ loaded; dropped afterwards.

    Each file goes to the server whole, as the mariadb client sends it, and the server parses
    it: a file needs no shape that suits a loader of ours.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with contextlib.closing(_connect(stack)) as connection:
        cursor = connection.cursor()
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        connection.select_db(name)
        for sql_file in sorted((REPO / "mysql-init").glob("*.sql")):
            cursor.execute(sql_file.read_text())
            while cursor.nextset():
                pass
    try:
        yield name
    finally:
        # A connection of its own: MariaDB may have been restarted meanwhile (tests/faults).
        with contextlib.closing(_connect(stack)) as connection:
            connection.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")


def _connect(stack: Stack):
    return MySQLdb.connect(host="127.0.0.1", port=stack.mysql_port, user="auth", password="auth", charset="utf8mb4",
                           client_flag=MySQLdb.constants.CLIENT.MULTI_STATEMENTS)
