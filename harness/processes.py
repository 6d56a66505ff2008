"""A service, a server or a worker run as a real OS process by the tests or the bench: started in
a session of its own (so its whole group, gunicorn's workers or ffmpeg included, can be
signalled at once), its output kept in a log file, and stopped the way an orchestrator does."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from harness.stack import REPO

START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 40


class ServiceFailed(AssertionError):
    """The process exited while starting, was not ready in time, or ignored SIGTERM."""


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@dataclass
class ServiceProcess:
    """One process; ready when ``health_url`` answers 200, or when ``is_ready()`` says so."""

    name: str
    argv: list
    env: dict
    log_path: Path
    health_url: str | None = None
    is_ready: Callable[[], bool] | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, timeout: float = START_TIMEOUT_SECONDS, wait: bool = True) -> ServiceProcess:
        """Start the process and, unless ``wait`` is false, wait until it is ready."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv, cwd=REPO, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = START_TIMEOUT_SECONDS, path: str | None = None) -> None:
        """Wait until ready (or until ``path`` on the health URL's server answers 200)."""
        url = self.health_url if path is None else self.health_url.rsplit("/", 1)[0] + path

        def ready():
            return self.is_ready() if self.is_ready is not None and path is None else http_ok(url)

        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise ServiceFailed(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ServiceFailed(f"{self.name} was not ready within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def terminate(self) -> None:
        """SIGTERM to the process group, without waiting (to stop several side by side)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """SIGTERM and wait; return the exit code. One that ignores it is killed, and that fails."""
        if self.process is None or self.process.poll() is not None:
            return self.process and self.process.returncode
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired as error:
            self.kill()
            raise ServiceFailed(f"{self.name} ignored SIGTERM for {timeout}s:\n{self.log_tail()}") from error

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or an OOM kill would."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_lines()[-lines:])
