"""Settings for the auth service, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENTS = ("development", "production")

# Development defaults. In production both must be set explicitly, and the placeholder
# password is refused.
DEV_MYSQL_PASSWORD = "auth"
DEV_JWT_PRIVATE_KEY_FILE = ".secrets/jwt-private.pem"
# More proxies than this in front of one service is a configuration mistake, not a topology.
MAX_TRUSTED_PROXIES = 5


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from environment variables, naming every variable that is wrong."""
        problems: list[str] = []

        # Not pipeline/environment.py: auth's image holds auth/ alone, and keeps values unstripped.
        def read(name: str, default: str) -> str:
            # An empty value (`MYSQL_PASSWORD=` in a compose file) counts as unset. Others are
            # kept exactly: a password may well end with a space.
            value = environ.get(name, "")
            return value if value.strip() else default

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

        environment = read("ENVIRONMENT", "development")
        if environment not in ENVIRONMENTS:
            allowed = ", ".join(ENVIRONMENTS)
            problems.append(f"ENVIRONMENT must be one of {allowed}, got {environment!r}")
        in_production = environment == "production"

        def read_required_in_production(name: str, dev_default: str) -> str:
            value = read(name, "")
            if not in_production:
                return value or dev_default
            if not value:
                problems.append(f"{name} is required when ENVIRONMENT=production")
            return value

        mysql_password = read_required_in_production("MYSQL_PASSWORD", DEV_MYSQL_PASSWORD)
        if in_production and mysql_password == DEV_MYSQL_PASSWORD:
            problems.append("MYSQL_PASSWORD is the development placeholder; set a real password")
        jwt_private_key_file = read_required_in_production(
            "JWT_PRIVATE_KEY_FILE", DEV_JWT_PRIVATE_KEY_FILE
        )

        settings = cls(
            environment=environment,
            mysql_host=read("MYSQL_HOST", "127.0.0.1"),
            mysql_port=read_int("MYSQL_PORT", 3306, minimum=1, maximum=65535),
            mysql_user=read("MYSQL_USER", "auth"),
            mysql_password=mysql_password,
            mysql_database=read("MYSQL_DATABASE", "auth"),
            jwt_private_key_file=Path(jwt_private_key_file),
            jwt_previous_public_key_files=tuple(
                Path(item.strip())
                for item in read("JWT_PREVIOUS_PUBLIC_KEY_FILES", "").split(",")
                if item.strip()
            ),
            jwt_issuer=read("JWT_ISSUER", "mp3-auth"),
            jwt_audience=read("JWT_AUDIENCE", "mp3-gateway"),
            jwt_ttl_seconds=read_int("JWT_TTL_SECONDS", 3600, minimum=60, maximum=7 * 24 * 3600),
            login_failure_window_seconds=read_int(
                "LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60, minimum=1, maximum=24 * 3600
            ),
            max_login_failures_per_account=read_int(
                "MAX_LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1, maximum=1_000_000
            ),
            max_login_failures_per_address=read_int(
                "MAX_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1, maximum=1_000_000
            ),
            trusted_proxy_count=read_int(
                "TRUSTED_PROXY_COUNT", 1, minimum=0, maximum=MAX_TRUSTED_PROXIES
            ),
        )
        if problems:
            raise SettingsError("Invalid auth settings: " + "; ".join(problems))
        return settings
