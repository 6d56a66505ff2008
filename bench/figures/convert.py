"""1. The convert step: the converter's conversion of a local file against bare ffmpeg."""
from __future__ import annotations

import functools
import logging
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from bench import profiles
from bench.findings import Finding
from bench.sampling import MB
from converter.worker import ProgressThrottle
from mp3common import media

logger = logging.getLogger(__name__)

# The same settings as the converter's default preset (common/mp3common/media.py): LAME VBR quality 2.
BARE_FFMPEG_SETTINGS = ["-map", "0:a:0", "-vn", "-c:a", "libmp3lame", "-q:a", "2", "-ar", "44100", "-ac", "2"]
FFMPEG_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class ConvertFigure:
    """One file's convert step: medians of wall and child CPU time, each side, and every run's wall time."""

    iterations: int
    bare_ffmpeg_seconds: float
    converter_seconds: float
    ffprobe_seconds: float
    ratio: float
    bare_ffmpeg_cpu_seconds: float
    converter_cpu_seconds: float
    ffprobe_cpu_seconds: float
    cpu_ratio: float
    bare_ffmpeg_all_seconds: list[float]
    converter_all_seconds: list[float]


def measure(context) -> dict[str, ConvertFigure]:
    """The converter's conversion of a local file (media.extract_mp3, with its progress callback
    and the MediaInfo the gateway's probe kept in the job, as converter/worker.py calls it)
    against bare ffmpeg with the same settings.

    The two alternate, so that a burst of load from elsewhere on the machine hits both alike; the
    figure is the median of each. ffprobe, which the gateway runs on every upload (and the
    converter only for a job without that MediaInfo), is timed alone as well.
    Next to the wall time, the CPU time of the child processes (ffmpeg, ffprobe): on a shared
    machine it tells extra work from time spent waiting for a core.
    """
    figures = {}
    for name in context.plan.files:
        source = context.videos[name]
        _read_through(source)  # both sides then read the file from the page cache
        probed = media.probe(str(source))  # at upload time, by the gateway
        bare, converter, probe = [], [], []  # (wall seconds, CPU seconds) of each run
        for _ in range(context.plan.convert_iterations[name]):
            bare.append(timed(functools.partial(bare_ffmpeg, source, context.scratch / "bare.mp3")))
            converter.append(timed(functools.partial(converter_extract, source, context.scratch / "converter.mp3",
                                                     probed)))
            probe.append(timed(functools.partial(media.probe, str(source))))
        (bare_wall, bare_cpu), (converter_wall, converter_cpu), (probe_wall, probe_cpu) = map(
            _medians, (bare, converter, probe))
        figure = figures[name] = ConvertFigure(
            iterations=len(bare),
            bare_ffmpeg_seconds=round(bare_wall, 3),
            converter_seconds=round(converter_wall, 3),
            ffprobe_seconds=round(probe_wall, 3),
            ratio=round(converter_wall / bare_wall, 3),
            bare_ffmpeg_cpu_seconds=round(bare_cpu, 3),
            converter_cpu_seconds=round(converter_cpu, 3),
            ffprobe_cpu_seconds=round(probe_cpu, 3),
            cpu_ratio=round(converter_cpu / bare_cpu, 3),
            bare_ffmpeg_all_seconds=[round(seconds, 3) for seconds, _ in bare],
            converter_all_seconds=[round(seconds, 3) for seconds, _ in converter],
        )
        logger.info("convert %s: bare %.2fs, converter %.2fs (x%.3f)", name, figure.bare_ffmpeg_seconds,
                    figure.converter_seconds, figure.ratio)
    return figures


def bare_ffmpeg(source, target):
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(source),
                    *BARE_FFMPEG_SETTINGS, "-f", "mp3", str(target)], check=True, timeout=FFMPEG_TIMEOUT_SECONDS)


def converter_extract(source, target, info):
    throttle = ProgressThrottle()
    media.extract_mp3(str(source), str(target), on_progress=throttle.due, info=info)


def timed(action):
    """(wall seconds, CPU seconds of the child processes it ran and waited for)."""
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    action()
    wall = time.perf_counter() - start
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (children_after.ru_utime - children_before.ru_utime) + (children_after.ru_stime - children_before.ru_stime)
    return wall, cpu


def _medians(runs):
    """(median wall seconds, median CPU seconds) of [(wall, CPU)]."""
    return statistics.median(wall for wall, _ in runs), statistics.median(cpu for _, cpu in runs)


def _read_through(path):
    with open(path, "rb") as video:
        while video.read(16 * MB):
            pass


def profile_miss(context, figures, results_dir, *, name) -> Finding:
    """py-spy (idle threads included: the time is wall time) over extract_mp3 on the file."""
    source = context.videos[name]
    stem = results_dir / f"profile-convert-{name}"
    script = (
        "import sys\nfrom bench.figures.convert import converter_extract\nfrom pathlib import Path\n"
        "from mp3common import media\n"
        "converter_extract(Path(sys.argv[1]), Path(sys.argv[2]), media.probe(sys.argv[1]))\n"
    )
    recording = profiles.Recording.of_command(
        [sys.executable, "-c", script, str(source), str(context.scratch / "profiled.mp3")],
        stem.with_suffix(".folded.txt"), idle=True)
    recording.wait(timeout=FFMPEG_TIMEOUT_SECONDS)
    folded = recording.stop()
    root = ("extract_mp3", "mp3common/media.py")
    profiles.render_flame_graph(folded, stem.with_suffix(".svg"), f"extract_mp3 on the {name} file (wall time)", root)
    figure = figures.convert[name]
    return Finding(
        profiles={"convert": profiles.summarize(folded, root)},
        files=[stem.with_suffix(".svg").name, folded.name],
        notes=[
            f"Wall time: extract_mp3 took {figure.converter_seconds - figure.bare_ffmpeg_seconds:+.3f} s "
            f"against bare ffmpeg (medians of {figure.iterations} runs each); ffprobe alone (run by the gateway at "
            f"upload, not part of this step) took {figure.ffprobe_seconds:.3f} s.",
            f"CPU time of the children: {figure.converter_cpu_seconds:.3f} s (ffmpeg) against "
            f"{figure.bare_ffmpeg_cpu_seconds:.3f} s (ffmpeg), {figure.cpu_ratio:.3f}x; ffprobe alone "
            f"{figure.ffprobe_cpu_seconds:.3f} s.",
        ],
    )
