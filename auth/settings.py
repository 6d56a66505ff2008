"""Settings for the auth service, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mp3common.environment import EnvironmentReader

# Development defaults. In production both must be set explicitly, and the placeholder
# password is refused.
DEV_MYSQL_PASSWORD = "auth"
DEV_JWT_PRIVATE_KEY_FILE = ".secrets/jwt-private.pem"


class SettingsError(ValueError):
    """The environment does not describe a configuration the service can start with."""


@dataclass(frozen=True)
class Settings:
    """Everything the auth service needs to know about its surroundings."""

    environment: str
    mysql_host: str
    mysql_port: int
    mysql_user: str
    mysql_password: str
    mysql_database: str
    jwt_private_key_file: Path
    jwt_previous_public_key_files: tuple[Path, ...]
    jwt_issuer: str
    jwt_audience: str
    jwt_ttl_seconds: int
    # Failed logins allowed per account and per client address in a window that starts with the
    # first failure; past either limit, logins are refused until the window ends (throttling.py).
    login_failure_window_seconds: int
    max_login_failures_per_account: int
    max_login_failures_per_address: int
    # How many proxies in front of auth append to X-Forwarded-For: 1, the gateway, by default.
    trusted_proxy_count: int
    # Under gunicorn, the directory its workers' metrics are added up from; None in one process.
    prometheus_multiproc_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from environment variables, naming every variable that is wrong."""
        env = EnvironmentReader(environ)
        environment = env.environment()
        in_production = environment == "production"

        # Exactly as set, and not stripped: a password may well end with a space.
        mysql_password = env.required_in_production("MYSQL_PASSWORD", DEV_MYSQL_PASSWORD, in_production=in_production)
        if in_production and mysql_password == DEV_MYSQL_PASSWORD:
            env.problems.append("MYSQL_PASSWORD is the development placeholder; set a real password")
        jwt_private_key_file = env.required_in_production(
            "JWT_PRIVATE_KEY_FILE", DEV_JWT_PRIVATE_KEY_FILE, in_production=in_production
        )

        settings = cls(
            environment=environment,
            mysql_host=env.text("MYSQL_HOST", "127.0.0.1"),
            mysql_port=env.integer("MYSQL_PORT", 3306, minimum=1, maximum=65535),
            mysql_user=env.text("MYSQL_USER", "auth"),
            mysql_password=mysql_password,
            mysql_database=env.text("MYSQL_DATABASE", "auth"),
            jwt_private_key_file=Path(jwt_private_key_file),
            jwt_previous_public_key_files=tuple(
                Path(item.strip()) for item in env.text("JWT_PREVIOUS_PUBLIC_KEY_FILES", "").split(",") if item.strip()
            ),
            jwt_issuer=env.text("JWT_ISSUER", "mp3-auth"),
            jwt_audience=env.text("JWT_AUDIENCE", "mp3-gateway"),
            jwt_ttl_seconds=env.integer("JWT_TTL_SECONDS", 3600, minimum=60, maximum=7 * 24 * 3600),
            login_failure_window_seconds=env.integer(
                "LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60, minimum=1, maximum=24 * 3600
            ),
            max_login_failures_per_account=env.integer(
                "MAX_LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1, maximum=1_000_000
            ),
            max_login_failures_per_address=env.integer(
                "MAX_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1, maximum=1_000_000
            ),
            # 1: the gateway, which forwards /login and /register.
            trusted_proxy_count=env.trusted_proxy_count(default=1),
            prometheus_multiproc_dir=env.prometheus_multiproc_dir(),
        )
        env.raise_if_problems(SettingsError, "auth")
        return settings
