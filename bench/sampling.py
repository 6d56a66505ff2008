"""What the processes cost while the bench drives them: resident memory sampled every 50 ms,
and CPU seconds by component between two moments (psutil)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

SAMPLE_INTERVAL_SECONDS = 0.05
MB = 1024 * 1024


def _rss(pid):
    try:
        return psutil.Process(pid).memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _tree(pid):
    """The process and all its descendants (a gunicorn worker and its ffprobe, a converter and its ffmpeg)."""
    try:
        process = psutil.Process(pid)
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@dataclass(frozen=True)
class MemorySummary:
    """One group's RSS over a sampled run, in MB, and the phase each peak fell in."""

    samples: int
    idle_mb: float  # the first sample, before the work began
    peak_mb: float  # the process alone
    peak_with_children_mb: float  # with its descendants at the same instant, as a container limit counts
    peak_phase: str
    peak_with_children_phase: str


class RssSampler:
    """Samples the RSS of groups of process trees in a thread, every 50 ms.

    ``groups`` maps a group's id to a function returning the group's root pids at that moment
    (it is asked at every sample: gunicorn may replace a worker). For each group the sampler
    keeps, per sample, the largest root process alone and the largest root with its descendants
    summed.
    """

    def __init__(self, groups, interval=SAMPLE_INTERVAL_SECONDS):
        self._groups = groups
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.timeline = {name: [] for name in groups}  # id -> [(unix time, process bytes, tree bytes)]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self):
        while not self._stop.is_set():
            now = time.time()
            for name, roots in self._groups.items():
                process_peak = tree_peak = 0
                for pid in roots():
                    own = _rss(pid) or 0
                    tree = sum(filter(None, (_rss(member.pid) for member in _tree(pid))))
                    process_peak, tree_peak = max(process_peak, own), max(tree_peak, tree)
                if process_peak:
                    self.timeline[name].append((now, process_peak, tree_peak))
            self._stop.wait(self._interval)

    def summary(self, name, phases=()) -> MemorySummary | None:
        """Peak and idle RSS of one group, and the phase (label, start, end) each peak fell in."""
        samples = self.timeline[name]
        if not samples:
            return None
        peak_process = max(samples, key=lambda sample: sample[1])
        peak_tree = max(samples, key=lambda sample: sample[2])
        return MemorySummary(
            samples=len(samples),
            idle_mb=round(samples[0][1] / MB, 1),
            peak_mb=round(peak_process[1] / MB, 1),
            peak_with_children_mb=round(peak_tree[2] / MB, 1),
            peak_phase=_phase_at(peak_process[0], phases),
            peak_with_children_phase=_phase_at(peak_tree[0], phases),
        )


def _phase_at(moment, phases):
    for label, start, end in phases:
        if start is not None and end is not None and start <= moment <= end:
            return label
    return "between steps"


def _cpu_seconds(pid, with_descendants):
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        if with_descendants:
            for child in process.children(recursive=True):
                try:
                    child_times = child.cpu_times()
                    total += child_times.user + child_times.system
                except psutil.NoSuchProcess:
                    pass
        return total
    except psutil.NoSuchProcess:
        return 0.0


@dataclass(frozen=True)
class Component:
    """A part of the machine whose CPU time is counted: the pids it is made of at a given moment,
    each with whether its live descendants count too (long-lived servers)."""

    id: str
    label: str
    pids: Callable[[], list[tuple[int, bool]]]


@dataclass(frozen=True)
class ComponentSeconds:
    id: str
    label: str
    seconds: float | None  # None: the process restarted meanwhile, so its figure is unknown


OTHER_PROCESSES_LABEL = "other processes on the machine"
# CPU the hypervisor gave to other virtual machines while this one had work: it shows as busy
# time of no process here, and makes every process's work take longer on the same instructions.
STEAL_LABEL = "taken by the hypervisor (steal)"
MACHINE_BUSY_LABEL = "machine busy (all cores)"
MACHINE_CAPACITY_LABEL = "machine capacity (cores x wall)"


@dataclass(frozen=True)
class CpuSeconds:
    """Where the CPU went between two moments: each component, then the rest of the machine
    (`other`) and the hypervisor's steal (the last two components), and how busy the machine was
    out of what it could do."""

    components: list[ComponentSeconds]
    machine_busy: float
    machine_capacity: float

    def of(self, component_id):
        return next(component.seconds for component in self.components if component.id == component_id)

    def labelled(self):
        """[(label, seconds)]: every component, then the machine's busy time and capacity."""
        return [*((component.label, component.seconds) for component in self.components),
                (MACHINE_BUSY_LABEL, self.machine_busy), (MACHINE_CAPACITY_LABEL, self.machine_capacity)]


class CpuAccount:
    """CPU seconds spent by each component between start() and stop(), and by the whole machine.

    A component is a list of pids; each counts with the children it has reaped (ffmpeg, ffprobe)
    and, for long-lived servers, its live descendants. Start and stop at quiet moments, when no
    short-lived child is running, or its time is counted partly.
    """

    def __init__(self, components: list[Component]):
        self._components = components
        self._start = None

    def _snapshot(self):
        values = {component.id: sum(_cpu_seconds(pid, deep) for pid, deep in component.pids())
                  for component in self._components}
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        return values, busy, getattr(machine, "steal", 0.0), time.monotonic()

    def start(self):
        self._start = self._snapshot()

    def stop(self) -> CpuSeconds:
        start, busy_start, steal_start, wall_start = self._start
        end, busy_end, steal_end, wall_end = self._snapshot()
        components = []
        for component in self._components:
            spent = end[component.id] - start[component.id]
            # A server restarted meanwhile (the fault-injection tests restart the stack's) starts
            # counting from zero again: its figure is unknown, not negative.
            components.append(ComponentSeconds(component.id, component.label,
                                               round(spent, 2) if spent >= 0 else None))
        busy, steal = busy_end - busy_start, steal_end - steal_start
        known = sum(component.seconds for component in components if component.seconds is not None)
        other = ComponentSeconds("other", OTHER_PROCESSES_LABEL, round(max(0.0, busy - known - steal), 2))
        stolen = ComponentSeconds("steal", STEAL_LABEL, round(steal, 2))
        return CpuSeconds(components=[*components, other, stolen], machine_busy=round(busy, 2),
                          machine_capacity=round(psutil.cpu_count() * (wall_end - wall_start), 2))
