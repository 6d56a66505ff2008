"""ffprobe and ffmpeg, called as subprocesses on files: probing an upload and extracting its audio.

ffmpeg is called directly rather than through moviepy: moviepy decodes the audio into Python and
re-encodes it, which costs time and memory for no gain when all we want is ffmpeg's own encoder
(see converter/README.md for the measurement).
"""
import collections
import json
import logging
import subprocess
import threading
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Bitrate presets offered to users; `vbr-high` is LAME's VBR quality 2 (~190 kbit/s), the default.
PRESETS = {
    "vbr-high": ["-q:a", "2"],
    "128k": ["-b:a", "128k"],
    "192k": ["-b:a", "192k"],
    "320k": ["-b:a", "320k"],
}
DEFAULT_PRESET = "vbr-high"
SAMPLE_RATE = "44100"
MAX_CHANNELS = 2
PROBE_TIMEOUT_SECONDS = 60
# How much of ffmpeg's error output is kept for the log when it fails.
STDERR_TAIL_LINES = 20
# ffmpeg fails (exit code 69) only when more than this fraction of the audio frames cannot be
# decoded. Its default, two thirds, lets a file with half its audio destroyed "convert" into an
# MP3 full of holes that the user is told is ready. One frame in twenty is still allowed to fail,
# so a recording with a few damaged frames converts, with a click where each one was.
MAX_DECODE_ERROR_RATE = 0.05


class MediaError(Exception):
    """The file itself is the problem (unreadable, no audio); retrying will not help.

    The message is a plain sentence meant for the user.
    """


class ConversionCancelled(Exception):
    """The conversion was stopped because the worker is shutting down."""


class ConversionInterrupted(Exception):
    """ffmpeg was killed from outside (the OOM killer, an operator): the file is not to blame,
    so this is an ordinary error, which the consumer retries."""


@dataclass(frozen=True)
class MediaInfo:
    duration_seconds: float | None
    audio_codec: str
    audio_channels: int


def probe(path):
    """Describe the first audio stream of ``path``, or raise MediaError saying what is wrong."""
    command = [
        "ffprobe", "-v", "error", "-print_format", "json",
        "-show_entries", "format=duration:stream=codec_type,codec_name,channels",
        path,
    ]
    # ffprobe and ffmpeg run in a process group of their own (process_group=0). In ours, a
    # Ctrl-C or a stop signal sent to the whole group would kill them mid-file, and the exit
    # status would read as a broken file: a good upload refused, or a job failed for good, while
    # the service was only stopping. The worker stops ffmpeg itself, through should_cancel.
    try:
        result = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False,
                                process_group=0)
    except subprocess.TimeoutExpired:
        raise MediaError("The file could not be read as audio or video in time.") from None
    if result.returncode != 0:
        logger.info("ffprobe refused the file: %s", result.stderr.decode(errors="replace").strip()[:500])
        raise MediaError("The file is not a video or audio file that can be read.")
    description = json.loads(result.stdout or b"{}")
    audio_streams = [s for s in description.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio_streams:
        raise MediaError("The file has no audio track to convert.")
    audio = audio_streams[0]
    duration = description.get("format", {}).get("duration")
    return MediaInfo(
        duration_seconds=float(duration) if duration not in (None, "N/A") else None,
        audio_codec=audio.get("codec_name", "unknown"),
        audio_channels=int(audio.get("channels") or MAX_CHANNELS),
    )


def mp3_command(source_path, target_path, info, preset):
    """The ffmpeg command line that writes the first audio stream of ``source_path`` as MP3."""
    if preset is None and info.audio_codec == "mp3":
        # Already MP3 and the user asked for nothing else: copying loses no quality and is instant.
        codec = ["-c:a", "copy"]
    else:
        codec = [
            "-c:a", "libmp3lame", *PRESETS[preset or DEFAULT_PRESET],
            "-ar", SAMPLE_RATE, "-ac", str(min(info.audio_channels, MAX_CHANNELS)),
        ]
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
        "-max_error_rate", str(MAX_DECODE_ERROR_RATE),
        "-i", source_path,
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        *codec,
        "-f", "mp3",
        # Progress lines (key=value) on stdout let us report a percentage without parsing stderr.
        "-progress", "pipe:1", "-nostats",
        target_path,
    ]


def extract_mp3(source_path, target_path, preset=None, on_progress=None, should_cancel=None, info=None):
    """Write the audio of ``source_path`` to ``target_path`` as MP3; return the source's MediaInfo.

    ``info`` is the file's MediaInfo when it was probed already (the gateway probes every
    upload); without it the file is probed first, which costs 0.15 s, a quarter of the whole
    conversion of a 30-second video. ``on_progress(percent)`` is called as ffmpeg reports
    progress; ``should_cancel()`` is polled between progress lines and, when true, stops ffmpeg
    and raises ConversionCancelled.
    """
    if info is None:
        info = probe(source_path)
    command = mp3_command(source_path, target_path, info, preset)
    # In a process group of its own, like ffprobe (see probe()).
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", process_group=0
    ) as ffmpeg:
        # A damaged file can make ffmpeg print hundreds of kilobytes of decoding errors; unread,
        # they would fill the stderr pipe and block ffmpeg while we wait on stdout. So stderr is
        # drained on a thread of its own, keeping only its last lines.
        stderr_tail = collections.deque(maxlen=STDERR_TAIL_LINES)
        stderr_reader = threading.Thread(target=stderr_tail.extend, args=(ffmpeg.stderr,), daemon=True)
        stderr_reader.start()
        for line in ffmpeg.stdout:
            if should_cancel is not None and should_cancel():
                ffmpeg.kill()
                ffmpeg.wait()
                raise ConversionCancelled(source_path)
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and on_progress and info.duration_seconds and value.isdigit():
                percent = min(99, int(value) / 1e6 / info.duration_seconds * 100)
                on_progress(percent)
        returncode = ffmpeg.wait()
        stderr_reader.join()
    if returncode != 0:
        if should_cancel is not None and should_cancel():
            # Stopping, and ffmpeg ended early: whatever ended it, it was not the file.
            raise ConversionCancelled(source_path)
        if returncode < 0:
            raise ConversionInterrupted(f"ffmpeg was killed by signal {-returncode}")
        logger.warning("ffmpeg failed (%s): %s", returncode, "".join(stderr_tail).strip()[-1000:])
        raise MediaError("The audio track could not be decoded.")
    return info
