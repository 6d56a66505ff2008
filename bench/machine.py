"""The facts about the machine and the code that results.md states next to the figures: the CPU,
memory and versions, the commit measured, and the load average at the start and the end."""
from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import subprocess
import time

from harness.stack import REPO


@dataclasses.dataclass(frozen=True)
class Machine:
    date: str
    nproc: int
    cpu_model: str
    memory_gb: float
    kernel: str
    python: str
    ffmpeg: str
    commit: str
    files_changed_since_commit: int
    load_average_start: tuple[float, float, float]  # 1, 5, 15 minutes
    load_average_end: tuple[float, float, float] | None = None
    bench_seconds: float | None = None  # corpus generation included

    @classmethod
    def at_start(cls) -> Machine:
        cpu_model = "unknown"
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
        ffmpeg_version = subprocess.run(["ffmpeg", "-version"], capture_output=True,
                                        text=True).stdout.split(" Copyright")[0]
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=REPO).stdout.splitlines()
        return cls(
            date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            nproc=os.cpu_count(),
            cpu_model=cpu_model,
            memory_gb=round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
            kernel=platform.release(),
            python=platform.python_version(),
            ffmpeg=ffmpeg_version,
            commit=git.stdout.strip(),
            files_changed_since_commit=len(dirty),
            load_average_start=os.getloadavg(),
        )

    def at_end(self, started_monotonic) -> Machine:
        """The same facts with the load average now and the run's length since ``started_monotonic``."""
        return dataclasses.replace(self, load_average_end=os.getloadavg(),
                                   bench_seconds=round(time.monotonic() - started_monotonic, 1))
