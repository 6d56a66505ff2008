"""py-spy profiles of the running services, summarised as text and drawn as flame graphs.

py-spy samples a process's Python stacks from outside (100 times a second), so the services run
unchanged. Each profile is kept in py-spy's raw format (`<name>.folded.txt`: one line per
distinct stack, `frame;frame;... count`), the input of every flame graph tool, and speedscope
opens it as is. From it the bench writes the summary that goes into results.md and draws
`<name>.svg`, a flame graph of the same samples.
"""
from __future__ import annotations

import collections
import re
import signal
import subprocess
import sys
from pathlib import Path

PY_SPY = str(Path(sys.executable).parent / "py-spy")
STOP_TIMEOUT_SECONDS = 30
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*)\)$")
PROJECT_PACKAGES = ("gateway", "auth", "converter", "notification", "mp3common", "bench")


class Recording:
    """A py-spy record running in the background until stop()."""

    def __init__(self, target_args, folded_path: Path, *, idle=False, gil=False, subprocesses=False):
        self.folded_path = folded_path
        command = [PY_SPY, "record", "--format", "raw", "--nolineno", "--rate", "100",
                   "--output", str(folded_path)]
        if idle:
            # Threads waiting on I/O (a socket, a pipe from ffmpeg) count too: for a wall-clock
            # question, where the time goes matters, not only where the CPU goes.
            command.append("--idle")
        if gil:
            # Only the thread holding the GIL: where a threaded server's CPU goes. Without it,
            # a thread waiting to take the GIL back after a socket call counts as busy there.
            command.append("--gil")
        if subprocesses:
            command.append("--subprocesses")
        self._process = subprocess.Popen([*command, *target_args], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True)

    @classmethod
    def of_pid(cls, pid, folded_path, **options):
        return cls(["--pid", str(pid)], folded_path, **options)

    @classmethod
    def of_command(cls, argv, folded_path, **options):
        return cls(["--", *argv], folded_path, **options)

    def wait(self, timeout):
        """Wait for a recorded command to finish by itself."""
        self._process.wait(timeout)

    def stop(self):
        """Stop sampling (py-spy writes its output on SIGINT) and return the output's path."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if not self.folded_path.exists():
            raise RuntimeError(f"py-spy wrote no profile: {self._process.stderr.read()[-500:]}")
        return self.folded_path


def read_stacks(folded_path: Path, root=None):
    """[(frames, count)] from a raw profile. ``root`` is (function, file) as py-spy names them,
    e.g. ("Flask.wsgi_app", "flask/app.py"): then only the stacks through that frame are kept,
    cut to start at it."""
    stacks = []
    for line in folded_path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if root is not None:
            positions = [index for index, frame in enumerate(frames) if _split(frame) == tuple(root)]
            if not positions:
                continue
            frames = frames[positions[0]:]
        stacks.append((frames, int(count)))
    return stacks


def _split(frame):
    """(function, file) of a frame; py-spy already shortens files to `package/module.py`."""
    match = FRAME.match(frame)
    return (match["function"], match["file"]) if match else (frame, "")


def package_of(frame):
    """The package a frame's code belongs to: `pymongo`, `gateway`, `threading`."""
    function, path = _split(frame)
    if not path:
        # py-spy's own frames: "process 123:..." with --subprocesses.
        return function.split(":", 1)[0]
    return path.split("/", 1)[0].removesuffix(".py")


def summarize(folded_path: Path, root=None, top=10):
    """What a profile says: samples, where the time is spent (self time by package), and the
    functions present in the most samples (inclusive share), the project's own listed apart."""
    stacks = read_stacks(folded_path, root)
    total = sum(count for _, count in stacks)
    if not total:
        return {"samples": 0, "root": root}
    by_package = collections.Counter()
    inclusive = collections.Counter()
    self_time = collections.Counter()
    for frames, count in stacks:
        by_package[package_of(frames[-1])] += count
        self_time[frames[-1]] += count
        for frame in set(frames):
            if not frame.startswith("process "):
                inclusive[frame] += count

    def shares(counter, keep=lambda label: True):
        return [{"what": label, "percent": round(100 * count / total, 1)}
                for label, count in counter.most_common() if keep(label)][:top]

    def is_project(frame):
        return package_of(frame) in PROJECT_PACKAGES

    return {
        "root": root,
        "samples": total,
        "project_call_tree": project_call_tree(stacks, total),
        "self_by_package": shares(by_package),
        "self_by_function": shares(self_time),
        "inclusive_project_functions": shares(inclusive, is_project),
        "inclusive_library_functions": shares(inclusive, lambda label: not is_project(label)),
    }


def project_call_tree(stacks, total, min_percent=2.0, max_depth=4):
    """The project's own functions below the root, as a tree with each one's share of samples.

    Library frames are skipped over, so `get_job -> Jobs.get_owned` reads as a call even though
    pymongo and Flask frames lie between: what a reader of this repository can change. Returns
    [{"depth", "what", "percent"}] in tree order; the samples with no project frame below the
    root are one entry of their own.
    """
    tree = {}
    outside = 0
    for frames, count in stacks:
        path = [frame for frame in frames[1:] if package_of(frame) in PROJECT_PACKAGES][:max_depth]
        if not path:
            outside += count
        level = tree
        for frame in path:
            node = level.setdefault(frame, {"count": 0, "children": {}})
            node["count"] += count
            level = node["children"]

    entries = []

    def walk(level, depth):
        for frame, node in sorted(level.items(), key=lambda item: -item[1]["count"]):
            percent = round(100 * node["count"] / total, 1)
            if percent >= min_percent:
                entries.append({"depth": depth, "what": frame, "percent": percent})
                walk(node["children"], depth + 1)

    walk(tree, 0)
    if outside:
        entries.append({"depth": 0, "what": "(no project function below the root: libraries, server, idle)",
                        "percent": round(100 * outside / total, 1)})
    return entries


def render_flame_graph(folded_path: Path, svg_path: Path, title, root=None, min_share=0.005):
    """Draw the profile as a flame graph (callers below, callees above, width = share of samples)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stacks = read_stacks(folded_path, root)
    total = sum(count for _, count in stacks)
    tree = {"count": 0, "children": {}}
    for frames, count in stacks:
        node = tree
        node["count"] += count
        for frame in frames:
            node = node["children"].setdefault(frame, {"count": 0, "children": {}})
            node["count"] += count

    boxes = []  # (x, width, depth, label)

    def place(node, x, depth):
        for frame, child in sorted(node["children"].items()):
            width = child["count"] / total if total else 0
            if width >= min_share:
                boxes.append((x, width, depth, frame))
                place(child, x, depth + 1)
            x += width

    place(tree, 0.0, 0)
    depth = max((box[2] for box in boxes), default=0) + 1
    figure, axes = plt.subplots(figsize=(16, max(3, 0.28 * depth + 1)))
    for x, width, level, label in boxes:
        axes.add_patch(plt.Rectangle((x, level), width, 0.95, facecolor=_colour(label), edgecolor="white",
                                     linewidth=0.3))
        if width > 0.04:
            axes.text(x + 0.002, level + 0.45, label[: int(width * 180)], fontsize=6, va="center")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, depth)
    axes.set_yticks([])
    axes.set_xlabel(f"share of {total} samples")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(svg_path)
    plt.close(figure)
    return svg_path


def _colour(label):
    # Stable warm colours per function, as flame graphs traditionally use.
    value = sum(label.encode()) % 100 / 100
    return (0.95, 0.45 + 0.4 * value, 0.2 + 0.2 * value)
