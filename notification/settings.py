"""Settings for the notification service, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mp3common.environment import EnvironmentReader

SMTP_SECURITY_MODES = ("none", "starttls", "tls")


class SettingsError(ValueError):
    """The environment does not describe a configuration the service can start with."""


@dataclass(frozen=True)
class Settings:
    """Everything the notification service needs to know about its surroundings."""

    environment: str
    amqp_url: str
    mongodb_uri: str
    max_deliveries: int
    health_host: str
    health_port: int
    shutdown_grace_seconds: int
    smtp_host: str
    smtp_port: int
    smtp_user: str | None
    smtp_password: str | None = field(repr=False)
    smtp_security: str
    smtp_timeout_seconds: int
    smtp_outage_tolerance_seconds: int
    mail_from: str
    public_base_url: str
    download_link_secret_file: Path
    # The secret itself, read from the file once at start-up; kept out of repr() and so out of logs.
    download_link_secret: bytes = field(repr=False)
    download_link_ttl_seconds: int
    log_level: str
    log_format: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from environment variables, naming every variable that is wrong."""
        env = EnvironmentReader(environ)

        environment = env.environment()
        log_level = env.log_level()

        smtp_user = env.text("SMTP_USER", "") or None
        smtp_password = env.text("SMTP_PASSWORD", "") or None
        if (smtp_user is None) != (smtp_password is None):
            env.problems.append("SMTP_USER and SMTP_PASSWORD must be set together, or neither")

        public_base_url = env.text("PUBLIC_BASE_URL", "http://localhost:8080").rstrip("/")
        if not public_base_url.startswith(("http://", "https://")):
            env.problems.append(f"PUBLIC_BASE_URL must start with http:// or https://, got {public_base_url!r}")

        secret_file, secret = env.download_link_secret(in_production=environment == "production")

        settings = cls(
            environment=environment,
            amqp_url=env.amqp_url(),
            mongodb_uri=env.mongodb_uri(),
            max_deliveries=env.max_deliveries(),
            # Loopback by default; a container sets 0.0.0.0 so its orchestrator can probe it.
            health_host=env.text("HEALTH_HOST", "127.0.0.1"),
            health_port=env.integer("HEALTH_PORT", 8083, minimum=1, maximum=65535),
            shutdown_grace_seconds=env.integer("SHUTDOWN_GRACE_SECONDS", 25, minimum=0, maximum=3600),
            smtp_host=env.text("SMTP_HOST", "127.0.0.1"),
            smtp_port=env.integer("SMTP_PORT", 1025, minimum=1, maximum=65535),
            smtp_user=smtp_user,
            smtp_password=smtp_password,
            smtp_security=env.choice("SMTP_SECURITY", "none", SMTP_SECURITY_MODES),
            smtp_timeout_seconds=env.integer("SMTP_TIMEOUT_SECONDS", 10, minimum=1, maximum=300),
            # RabbitMQ closes the channel of a consumer that holds a message unacked for longer
            # than its consumer_timeout (30 minutes by default): wait out less than that.
            smtp_outage_tolerance_seconds=env.integer(
                "SMTP_OUTAGE_TOLERANCE_SECONDS", 600, minimum=0, maximum=25 * 60
            ),
            mail_from=env.text("MAIL_FROM", "MP3 Converter <noreply@localhost>"),
            public_base_url=public_base_url,
            download_link_secret_file=secret_file,
            download_link_secret=secret,
            download_link_ttl_seconds=env.integer(
                "DOWNLOAD_LINK_TTL_SECONDS", 7 * 24 * 3600, minimum=60, maximum=366 * 24 * 3600
            ),
            log_level=log_level,
            log_format=env.log_format(),
        )
        env.raise_if_problems(SettingsError, "notification")
        return settings
