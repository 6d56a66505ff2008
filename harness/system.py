"""The four services as `make run` starts them (the Procfile's commands), each on a free loopback
port of its own, with the environment that points them at the stack: what the tests' `system`
fixtures and the bench run."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from auth import keygen
from harness.processes import ServiceProcess

PYTHON = sys.executable
BIN = Path(PYTHON).parent
SERVICES = ("auth", "gateway", "converter", "notification")
HTTP_SERVICES = ("auth", "gateway")


def service_argv(module: str, port: int) -> list[str]:
    """The Procfile's command for ``module``, listening (or probed) on ``port``."""
    if module in HTTP_SERVICES:
        return [str(BIN / "gunicorn"), "-c", f"{module}/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
                f"{module}.wsgi:app"]
    return [PYTHON, "-m", module]


def service_environment(*, amqp_url: str, mongo_uri: str, mysql_port: int, mysql_database: str, secrets_dir: Path,
                        smtp_port: int, ports: dict[str, int], **overrides: str) -> dict[str, str]:
    """The variables the four services read (README, Configuration), pointed at these servers."""
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "PYTHONUNBUFFERED": "1",
        "AMQP_URL": amqp_url,
        "MONGODB_URI": mongo_uri,
        "MYSQL_HOST": "127.0.0.1",
        "MYSQL_PORT": str(mysql_port),
        "MYSQL_DATABASE": mysql_database,
        "AUTH_URL": f"http://127.0.0.1:{ports['auth']}",
        "JWT_PRIVATE_KEY_FILE": str(secrets_dir / keygen.PRIVATE_KEY_NAME),
        "DOWNLOAD_LINK_SECRET_FILE": str(secrets_dir / keygen.DOWNLOAD_LINK_KEY_NAME),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['gateway']}",
        # Every test and the bench log in and upload from 127.0.0.1, and the counters live in a
        # MongoDB shared by every run on the machine; the limits themselves are tested in tests/gateway.
        "LOGIN_RATE_LIMIT": "1000000/60",
        "REGISTER_RATE_LIMIT": "1000000/60",
        "UPLOAD_RATE_LIMIT": "1000000/60",
        **overrides,
    }
    # A GUNICORN_BIND from the caller's shell would move the servers off their ports, and a
    # PROMETHEUS_MULTIPROC_DIR would make several servers add up their metrics in one directory.
    env.pop("GUNICORN_BIND", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def metrics_dir(log_dir: Path, name: str) -> Path:
    """Where the gunicorn server ``name`` adds up its workers' metrics (PROMETHEUS_MULTIPROC_DIR)."""
    return log_dir / f"{name}-metrics"


def service_process(name: str, port: int, env: dict[str, str], log_dir: Path, *, module: str | None = None,
                    ready_path: str = "/healthz") -> ServiceProcess:
    """One service (``module``, by default ``name``) on ``port``; ready when ``ready_path`` answers 200."""
    env = {**env, "HEALTH_PORT": str(port)}
    if (module or name) in HTTP_SERVICES:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir(log_dir, name))
    return ServiceProcess(
        name=name, argv=service_argv(module or name, port), env=env,
        health_url=f"http://127.0.0.1:{port}{ready_path}", log_path=log_dir / f"{name}.log",
    )
