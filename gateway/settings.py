"""Settings for the gateway, read once from the environment."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mp3common import media
from mp3common.environment import EnvironmentReader

JWKS_PATH = "/.well-known/jwks.json"
RATE_LIMIT_PATTERN = re.compile(r"(\d+)/(\d+)")


class SettingsError(ValueError):
    """The environment does not describe a configuration the gateway can start with."""


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` requests in each window of ``seconds``; written `REQUESTS/SECONDS`."""

    requests: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds}"


@dataclass(frozen=True)
class Settings:
    """Everything the gateway needs to know about its surroundings."""

    environment: str
    log_level: str
    log_format: str
    amqp_url: str = field(repr=False)  # may carry a password
    mongodb_uri: str = field(repr=False)  # may carry a password
    auth_url: str
    jwks_url: str
    jwt_issuer: str
    jwt_audience: str
    download_link_secret_file: Path
    # The secret itself, read from the file once at start-up; kept out of repr() and so out of logs.
    download_link_secret: bytes = field(repr=False)
    max_upload_bytes: int
    # The longest recording accepted, and what ffprobe may cost on each upload.
    media_limits: media.Limits
    max_deliveries: int
    upload_dir: Path
    # Per client address on /login and /register, per user on /upload (see ratelimits.py).
    login_rate_limit: RateLimit
    register_rate_limit: RateLimit
    upload_rate_limit: RateLimit
    # How many proxies in front of the gateway append to X-Forwarded-For; 0 ignores the header.
    trusted_proxy_count: int
    # Under gunicorn, the directory its workers' metrics are added up from; None in one process.
    prometheus_multiproc_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from environment variables, naming every variable that is wrong."""
        env = EnvironmentReader(environ)

        def read_rate_limit(name: str, default: str) -> RateLimit:
            text = env.text(name, default)
            match = RATE_LIMIT_PATTERN.fullmatch(text.replace(" ", ""))
            if not match or int(match[1]) < 1 or int(match[2]) < 1:
                env.problems.append(f"{name} must be REQUESTS/SECONDS, both at least 1, like {default}; got {text!r}")
                match = RATE_LIMIT_PATTERN.fullmatch(default)
            return RateLimit(requests=int(match[1]), seconds=int(match[2]))

        environment = env.environment()

        log_level = env.log_level()

        secret_file, secret = env.download_link_secret(in_production=environment == "production")

        upload_dir = Path(env.text("UPLOAD_DIR", tempfile.gettempdir()))
        if not upload_dir.is_dir():
            env.problems.append(f"UPLOAD_DIR {str(upload_dir)!r} is not an existing directory")

        auth_url = env.text("AUTH_URL", "http://127.0.0.1:8081").rstrip("/")
        settings = cls(
            environment=environment,
            log_level=log_level,
            log_format=env.log_format(),
            amqp_url=env.amqp_url(),
            mongodb_uri=env.mongodb_uri(),
            auth_url=auth_url,
            jwks_url=env.text("JWKS_URL", auth_url + JWKS_PATH),
            jwt_issuer=env.text("JWT_ISSUER", "mp3-auth"),
            jwt_audience=env.text("JWT_AUDIENCE", "mp3-gateway"),
            download_link_secret_file=secret_file,
            download_link_secret=secret,
            max_upload_bytes=env.integer("MAX_UPLOAD_BYTES", 2 * 1024**3, minimum=1, maximum=2**63 - 1),
            media_limits=env.media_limits(),
            max_deliveries=env.max_deliveries(),
            upload_dir=upload_dir,
            login_rate_limit=read_rate_limit("LOGIN_RATE_LIMIT", "10/60"),
            register_rate_limit=read_rate_limit("REGISTER_RATE_LIMIT", "10/3600"),
            upload_rate_limit=read_rate_limit("UPLOAD_RATE_LIMIT", "60/3600"),
            trusted_proxy_count=env.trusted_proxy_count(default=0),
            prometheus_multiproc_dir=env.prometheus_multiproc_dir(),
        )
        env.raise_if_problems(SettingsError, "gateway")
        return settings
