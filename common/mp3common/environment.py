"""Environment variables read into typed values, for the services' ``Settings.from_env()``.

A reader notes what is wrong and carries on with the default, so that a service refuses to start
once, with a message naming every variable that is wrong, rather than one variable per attempt.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mp3common import media

ENVIRONMENTS = ("development", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("plain", "json")
# More proxies than this in front of one service is a configuration mistake, not a topology.
MAX_TRUSTED_PROXIES = 5

# The secret the gateway checks download links with and the notification service signs them
# with: one secret, so one place says where it lives by default and how long it must be.
# Development default, written by `make secrets`. Production must name its secret file explicitly.
DEV_DOWNLOAD_LINK_SECRET_FILE = ".secrets/download-link.key"
# A shorter secret could be guessed; `make secrets` writes 64 hex characters.
MIN_DOWNLOAD_LINK_SECRET_LENGTH = 32


class EnvironmentReader:
    """Reads ``environ`` one variable at a time; each wrong value adds a line to ``problems``."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.problems: list[str] = []

    def text(self, name: str, default: str) -> str:
        """The value without surrounding whitespace; an empty one (`NAME=` in a compose file) counts as unset."""
        return self.environ.get(name, "").strip() or default

    def exact_text(self, name: str, default: str) -> str:
        """The value exactly as set, spaces included (a password may end with one); empty counts as unset."""
        value = self.environ.get(name, "")
        return value if value.strip() else default

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        """A whole number from ``minimum`` to ``maximum``."""
        text = self.text(name, str(default))
        try:
            value = int(text)
        except ValueError:
            self.problems.append(f"{name} must be a whole number, got {text!r}")
            return default
        if not minimum <= value <= maximum:
            self.problems.append(f"{name} must be between {minimum} and {maximum}, got {value}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        """One of ``choices``, exactly as written there."""
        value = self.text(name, default)
        if value not in choices:
            self.problems.append(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def environment(self) -> str:
        """ENVIRONMENT: `development` (the default) or `production`, which makes secrets mandatory."""
        return self.choice("ENVIRONMENT", "development", ENVIRONMENTS)

    def log_level(self) -> str:
        """LOG_LEVEL, in any case (`info` or `INFO`), as the logging module's upper-case name."""
        level = self.text("LOG_LEVEL", "INFO").upper()
        if level not in LOG_LEVELS:
            self.problems.append(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
        return level

    def log_format(self) -> str:
        """LOG_FORMAT: `plain` lines for people (the default) or `json`, one object a line, for log collectors."""
        return self.choice("LOG_FORMAT", "plain", LOG_FORMATS)

    def amqp_url(self) -> str:
        """AMQP_URL: the RabbitMQ of the `video` and `mp3` queues."""
        return self.text("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

    def mongodb_uri(self) -> str:
        """MONGODB_URI: the MongoDB of the GridFS buckets and the jobs collection."""
        return self.text("MONGODB_URI", "mongodb://127.0.0.1:27017/")

    def max_deliveries(self) -> int:
        """MAX_DELIVERIES: tries per message before it is dead-lettered; the queues are declared with it."""
        return self.integer("MAX_DELIVERIES", 3, minimum=1, maximum=100)

    def trusted_proxy_count(self, default: int) -> int:
        """TRUSTED_PROXY_COUNT: how many proxies in front append to X-Forwarded-For."""
        return self.integer("TRUSTED_PROXY_COUNT", default, minimum=0, maximum=MAX_TRUSTED_PROXIES)

    def required_in_production(self, name: str, dev_default: str, *, in_production: bool) -> str:
        """A value production must set; elsewhere ``dev_default`` stands in for it."""
        value = self.exact_text(name, "")
        if not in_production:
            return value or dev_default
        if not value:
            self.problems.append(f"{name} is required when ENVIRONMENT=production")
        return value

    def secret_file(self, name: str, dev_default: str, *, in_production: bool, min_length: int) -> tuple[Path, bytes]:
        """The file a secret is kept in, and the secret: the file's text, stripped, as UTF-8 bytes.

        ``dev_default`` is the file `make secrets` writes. Production must name its file: the
        development one is not picked up silently, even where it exists.
        """
        file_name = self.text(name, "")
        if not file_name:
            if in_production:
                self.problems.append(f"{name} is required when ENVIRONMENT=production")
            file_name = dev_default
        path = Path(file_name)
        try:
            secret = path.read_text().strip()
        except OSError as error:
            hint = " (run `make secrets`)" if str(path) == dev_default else ""
            self.problems.append(f"{name} {str(path)!r} cannot be read: {error.strerror}{hint}")
            return path, b""
        if len(secret) < min_length:
            self.problems.append(f"{name} {str(path)!r} must hold at least {min_length} characters")
        return path, secret.encode()

    def download_link_secret(self, *, in_production: bool) -> tuple[Path, bytes]:
        """DOWNLOAD_LINK_SECRET_FILE and the secret in it (see secret_file)."""
        return self.secret_file("DOWNLOAD_LINK_SECRET_FILE", DEV_DOWNLOAD_LINK_SECRET_FILE,
                                in_production=in_production, min_length=MIN_DOWNLOAD_LINK_SECRET_LENGTH)

    def prometheus_multiproc_dir(self) -> Path | None:
        """PROMETHEUS_MULTIPROC_DIR: where gunicorn's workers keep their metrics (mp3common.metrics)."""
        value = self.text("PROMETHEUS_MULTIPROC_DIR", "")
        return Path(value) if value else None

    def media_limits(self) -> media.Limits:
        """MAX_DURATION_SECONDS, MEDIA_CPU_SECONDS and MEDIA_MEMORY_BYTES: what one file may cost.

        The gateway refuses a longer recording at upload and the converter stops one whose length
        only shows as it converts; both run ffprobe and ffmpeg within the same CPU and memory.
        """
        return media.Limits(
            max_duration_seconds=self.integer("MAX_DURATION_SECONDS", media.DEFAULT_MAX_DURATION_SECONDS,
                                              minimum=1, maximum=7 * 24 * 3600),
            cpu_seconds=self.integer("MEDIA_CPU_SECONDS", media.DEFAULT_CPU_SECONDS, minimum=1, maximum=86400),
            # Below about 250 MiB ffmpeg cannot even load its libraries.
            memory_bytes=self.integer("MEDIA_MEMORY_BYTES", media.DEFAULT_MEMORY_BYTES,
                                      minimum=64 * 1024**2, maximum=2**63 - 1),
        )

    def raise_if_problems(self, error_class: type[Exception], service: str) -> None:
        """Raise ``error_class`` naming every problem found, if there is any."""
        if self.problems:
            raise error_class(f"Invalid {service} settings: " + "; ".join(self.problems))


@dataclass(frozen=True)
class ServerSettings:
    """What a service's gunicorn.conf.py reads: where to listen, how many workers, how much to log."""

    bind: str
    workers: int
    # Requests a worker serves at once: threads for the gthread worker (auth), connections for
    # the gevent worker (gateway).
    threads: int
    worker_connections: int
    log_level: str
    log_format: str
    # Where the workers' metrics files go; emptied by the master before the first worker starts.
    prometheus_multiproc_dir: Path


def server_settings(port_variable: str, default_port: int, environ: Mapping[str, str] = os.environ,
                    default_workers: int = 2, default_threads: int = 1,
                    default_worker_connections: int = 1000) -> ServerSettings:
    """GUNICORN_BIND (or 127.0.0.1 and ``port_variable``), GUNICORN_WORKERS, GUNICORN_THREADS,
    GUNICORN_WORKER_CONNECTIONS, LOG_LEVEL, LOG_FORMAT and PROMETHEUS_MULTIPROC_DIR."""
    env = EnvironmentReader(environ)
    port = env.integer(port_variable, default_port, minimum=1, maximum=65535)
    # prometheus_client reads it when it is imported, in every worker: it has to be in the
    # environment the server starts with (the Dockerfile, the Procfile), not set from here.
    multiproc_dir = env.prometheus_multiproc_dir()
    if multiproc_dir is None:
        env.problems.append("PROMETHEUS_MULTIPROC_DIR must name a directory of this server's own, where its "
                            "workers' metrics are added up (e.g. /tmp/metrics)")
    settings = ServerSettings(
        # Loopback by default; a container sets GUNICORN_BIND=0.0.0.0:PORT to be reachable at all.
        bind=env.text("GUNICORN_BIND", f"127.0.0.1:{port}"),
        workers=env.integer("GUNICORN_WORKERS", default_workers, minimum=1, maximum=256),
        threads=env.integer("GUNICORN_THREADS", default_threads, minimum=1, maximum=256),
        worker_connections=env.integer("GUNICORN_WORKER_CONNECTIONS", default_worker_connections,
                                       minimum=1, maximum=10000),
        log_level=env.log_level(),
        log_format=env.log_format(),
        prometheus_multiproc_dir=multiproc_dir or Path(),
    )
    env.raise_if_problems(ValueError, "gunicorn")
    return settings
