"""What the processes cost while the bench drives them: resident memory sampled every 50 ms,
and CPU seconds by component between two moments (psutil)."""
from __future__ import annotations

import threading
import time

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


class RssSampler:
    """Samples the RSS of named groups of process trees in a thread, every 50 ms.

    ``groups`` maps a name to a function returning the group's root pids at that moment (it is
    asked at every sample: gunicorn may replace a worker). For each group the sampler keeps, per
    sample, the largest root process alone and the largest root with its descendants summed.
    """

    def __init__(self, groups, interval=SAMPLE_INTERVAL_SECONDS):
        self._groups = groups
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.timeline = {name: [] for name in groups}  # name -> [(unix time, process bytes, tree bytes)]

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

    def summary(self, name, phases=()):
        """Peak and idle RSS of one group in MB, and the phase (label, start, end) the peak fell in."""
        samples = self.timeline[name]
        if not samples:
            return None
        peak_process = max(samples, key=lambda sample: sample[1])
        peak_tree = max(samples, key=lambda sample: sample[2])
        return {
            "samples": len(samples),
            "idle_mb": round(samples[0][1] / MB, 1),
            "peak_mb": round(peak_process[1] / MB, 1),
            "peak_with_children_mb": round(peak_tree[2] / MB, 1),
            "peak_phase": _phase_at(peak_process[0], phases),
            "peak_with_children_phase": _phase_at(peak_tree[0], phases),
        }


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


class CpuAccount:
    """CPU seconds spent by each component between start() and stop(), and by the whole machine.

    A component is a list of pids; each counts with the children it has reaped (ffmpeg, ffprobe)
    and, for long-lived servers, its live descendants. Start and stop at quiet moments, when no
    short-lived child is running, or its time is counted partly.
    """

    def __init__(self, components):
        self._components = components  # name -> () -> [(pid, with_descendants)]
        self._start = None
        self.seconds = {}

    def _snapshot(self):
        values = {name: sum(_cpu_seconds(pid, deep) for pid, deep in pids())
                  for name, pids in self._components.items()}
        machine = psutil.cpu_times()
        values["_busy"] = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        values["_wall"] = time.monotonic()
        return values

    def start(self):
        self._start = self._snapshot()

    def stop(self):
        end = self._snapshot()
        self.seconds = {}
        for name in self._components:
            spent = end[name] - self._start[name]
            # A server restarted meanwhile (the fault-injection tests restart the stack's) starts
            # counting from zero again: its figure is unknown, not negative.
            self.seconds[name] = round(spent, 2) if spent >= 0 else None
        busy = end["_busy"] - self._start["_busy"]
        wall = end["_wall"] - self._start["_wall"]
        known = sum(value for value in self.seconds.values() if value is not None)
        self.seconds["other processes on the machine"] = round(max(0.0, busy - known), 2)
        self.seconds["machine busy (all cores)"] = round(busy, 2)
        self.seconds["machine capacity (cores x wall)"] = round(psutil.cpu_count() * wall, 2)
        return self.seconds
