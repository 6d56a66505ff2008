"""Settings for the notification service, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENVIRONMENTS = ("development", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SMTP_SECURITY_MODES = ("none", "starttls", "tls")

# Development default, written by `make secrets`. Production must name its secret file explicitly.
DEV_DOWNLOAD_LINK_SECRET_FILE = ".secrets/download-link.key"
# A shorter secret could be guessed; `make secrets` writes 64 hex characters.
MIN_SECRET_LENGTH = 32


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from environment variables, naming every variable that is wrong."""
        problems: list[str] = []

        def read(name: str, default: str) -> str:
            # An empty value (`SMTP_USER=` in a compose file) counts as unset.
            return environ.get(name, "").strip() or default

        def read_int(name: str, default: int, minimum: int, maximum: int) -> int:
            text = read(name, str(default))
            try:
                value = int(text)
            except ValueError:
                problems.append(f"{name} must be a whole number, got {text!r}")
                return default
            if not minimum <= value <= maximum:
                problems.append(f"{name} must be between {minimum} and {maximum}, got {value}")
            return value

        def read_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
            value = read(name, default)
            if value not in choices:
                problems.append(f"{name} must be one of {', '.join(choices)}, got {value!r}")
            return value

        environment = read_choice("ENVIRONMENT", "development", ENVIRONMENTS)
        log_level = read_choice("LOG_LEVEL", "INFO", LOG_LEVELS)

        smtp_user = read("SMTP_USER", "") or None
        smtp_password = read("SMTP_PASSWORD", "") or None
        if (smtp_user is None) != (smtp_password is None):
            problems.append("SMTP_USER and SMTP_PASSWORD must be set together, or neither")

        public_base_url = read("PUBLIC_BASE_URL", "http://localhost:8080").rstrip("/")
        if not public_base_url.startswith(("http://", "https://")):
            problems.append(f"PUBLIC_BASE_URL must start with http:// or https://, got {public_base_url!r}")

        secret_file_name = read("DOWNLOAD_LINK_SECRET_FILE", "")
        if not secret_file_name:
            if environment == "production":
                problems.append("DOWNLOAD_LINK_SECRET_FILE is required when ENVIRONMENT=production")
            secret_file_name = DEV_DOWNLOAD_LINK_SECRET_FILE
        secret_file = Path(secret_file_name)
        secret = read_secret(secret_file, problems)

        settings = cls(
            environment=environment,
            amqp_url=read("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
            mongodb_uri=read("MONGODB_URI", "mongodb://127.0.0.1:27017/"),
            max_deliveries=read_int("MAX_DELIVERIES", 3, minimum=1, maximum=100),
            # Loopback by default; a container sets 0.0.0.0 so its orchestrator can probe it.
            health_host=read("HEALTH_HOST", "127.0.0.1"),
            health_port=read_int("HEALTH_PORT", 8083, minimum=1, maximum=65535),
            shutdown_grace_seconds=read_int("SHUTDOWN_GRACE_SECONDS", 25, minimum=0, maximum=3600),
            smtp_host=read("SMTP_HOST", "127.0.0.1"),
            smtp_port=read_int("SMTP_PORT", 1025, minimum=1, maximum=65535),
            smtp_user=smtp_user,
            smtp_password=smtp_password,
            smtp_security=read_choice("SMTP_SECURITY", "none", SMTP_SECURITY_MODES),
            smtp_timeout_seconds=read_int("SMTP_TIMEOUT_SECONDS", 10, minimum=1, maximum=300),
            # RabbitMQ closes the channel of a consumer that holds a message unacked for longer
            # than its consumer_timeout (30 minutes by default): wait out less than that.
            smtp_outage_tolerance_seconds=read_int(
                "SMTP_OUTAGE_TOLERANCE_SECONDS", 600, minimum=0, maximum=25 * 60
            ),
            mail_from=read("MAIL_FROM", "MP3 Converter <noreply@localhost>"),
            public_base_url=public_base_url,
            download_link_secret_file=secret_file,
            download_link_secret=secret,
            download_link_ttl_seconds=read_int(
                "DOWNLOAD_LINK_TTL_SECONDS", 7 * 24 * 3600, minimum=60, maximum=366 * 24 * 3600
            ),
            log_level=log_level,
        )
        if problems:
            raise SettingsError("Invalid notification settings: " + "; ".join(problems))
        return settings


def read_secret(path: Path, problems: list[str]) -> bytes:
    """The download-link secret: the file's text without surrounding whitespace, as UTF-8 bytes."""
    try:
        secret = path.read_text().strip()
    except OSError as error:
        problems.append(f"DOWNLOAD_LINK_SECRET_FILE {str(path)!r} cannot be read: {error.strerror}")
        return b""
    if len(secret) < MIN_SECRET_LENGTH:
        problems.append(
            f"DOWNLOAD_LINK_SECRET_FILE {str(path)!r} must hold at least {MIN_SECRET_LENGTH} characters"
        )
    return secret.encode()
