"""Environment variables read into typed values, for the services' ``Settings.from_env()``.

A reader notes what is wrong and carries on with the default, so that a service refuses to start
once, with a message naming every variable that is wrong, rather than one variable per attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipeline import media

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
