"""Settings for the converter, read once from the environment."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mp3common import media
from mp3common.environment import EnvironmentReader

HOUR_SECONDS = 3600
DAY_SECONDS = 24 * HOUR_SECONDS


class SettingsError(ValueError):
    """The environment does not describe a configuration the converter can start with."""


@dataclass(frozen=True)
class Settings:
    """Everything the converter needs to know about its surroundings."""

    amqp_url: str
    mongodb_uri: str
    max_deliveries: int
    health_host: str
    health_port: int
    work_dir: Path
    shutdown_grace_seconds: int
    # The sweep (converter/sweep.py): how long an MP3 is kept, how often the converter sweeps
    # (0: never, when a CronJob runs `python -m converter.sweep` instead), and how old a file
    # without a job must be before it counts as left over rather than still being uploaded.
    mp3_retention_seconds: int
    sweep_interval_seconds: int
    sweep_grace_seconds: int
    media_limits: media.Limits
    log_level: str
    log_format: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from environment variables, naming every variable that is wrong."""
        env = EnvironmentReader(environ)

        work_dir = Path(env.text("WORK_DIR", tempfile.gettempdir()))
        if not work_dir.is_dir():
            env.problems.append(f"WORK_DIR must be an existing directory, got {str(work_dir)!r}")

        log_level = env.log_level()

        settings = cls(
            amqp_url=env.amqp_url(),
            mongodb_uri=env.mongodb_uri(),
            max_deliveries=env.max_deliveries(),
            # Loopback by default; a container sets 0.0.0.0 so its orchestrator can probe it.
            health_host=env.text("HEALTH_HOST", "127.0.0.1"),
            health_port=env.integer("HEALTH_PORT", 8082, minimum=1, maximum=65535),
            work_dir=work_dir,
            shutdown_grace_seconds=env.integer("SHUTDOWN_GRACE_SECONDS", 25, minimum=0, maximum=3600),
            mp3_retention_seconds=env.integer(
                "MP3_RETENTION_SECONDS", 7 * DAY_SECONDS, minimum=60, maximum=3650 * DAY_SECONDS
            ),
            sweep_interval_seconds=env.integer(
                "SWEEP_INTERVAL_SECONDS", HOUR_SECONDS, minimum=0, maximum=7 * DAY_SECONDS
            ),
            sweep_grace_seconds=env.integer(
                "SWEEP_GRACE_SECONDS", HOUR_SECONDS, minimum=60, maximum=3650 * DAY_SECONDS
            ),
            media_limits=env.media_limits(),
            log_level=log_level,
            log_format=env.log_format(),
        )
        env.raise_if_problems(SettingsError, "converter")
        return settings
