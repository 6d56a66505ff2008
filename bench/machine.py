"""The facts about the machine and the code that results.md states next to the figures: the CPU,
memory and versions, the commit measured, the load average at the start and the end, and how fast
one core ran a fixed piece of work at the start and the end."""
from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import subprocess
import time

import psutil

from harness.stack import REPO

# The fixed piece of work: pure Python, one core, about 0.1 s on this project's 2-core machine.
# The same machine type can run it at half the speed on another day (another host, a busy
# neighbour on the same physical core), and every CPU figure of the run moves with it.
REFERENCE_LOOPS = 2_000_000


def reference_ms():
    """Milliseconds of CPU one core spends on the fixed piece of work (the best of three)."""
    best = None
    for _ in range(3):
        started = time.process_time()
        total = 0
        for number in range(REFERENCE_LOOPS):
            total += number % 7
        spent = time.process_time() - started
        best = spent if best is None else min(best, spent)
    return round(1000 * best, 1)


def steal_seconds():
    """CPU seconds the hypervisor gave to other machines, all cores, since boot (0 where not reported)."""
    return getattr(psutil.cpu_times(), "steal", 0.0)


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
    reference_ms_start: float
    steal_seconds_start: float
    load_average_end: tuple[float, float, float] | None = None
    reference_ms_end: float | None = None
    # CPU seconds stolen by the hypervisor during the run, all cores.
    steal_seconds: float | None = None
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
            reference_ms_start=reference_ms(),
            steal_seconds_start=steal_seconds(),
        )

    def at_end(self, started_monotonic) -> Machine:
        """The same facts with the load average and reference now, and the run's length since ``started_monotonic``."""
        return dataclasses.replace(self, load_average_end=os.getloadavg(), reference_ms_end=reference_ms(),
                                   steal_seconds=round(steal_seconds() - self.steal_seconds_start, 1),
                                   bench_seconds=round(time.monotonic() - started_monotonic, 1))
