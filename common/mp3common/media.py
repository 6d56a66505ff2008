"""ffprobe and ffmpeg, called as subprocesses on files: probing an upload and extracting its audio.

ffmpeg is called directly rather than through moviepy: moviepy decodes the audio into Python and
re-encodes it, which costs time and memory for no gain when all we want is ffmpeg's own encoder
(see converter/README.md for the measurement).
"""
import collections
import json
import logging
import os
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

# The demuxers ffprobe and ffmpeg may use: real single-file containers, the ones people upload.
# ffmpeg picks a demuxer by the file's content, whatever its name, and some demuxers are not
# media but lists of other things to open (hls, dash, concat, imf, sdp ...): an upload that is a
# playlist naming a file on the server would come back as that file's audio. So the list says
# what is allowed, and anything ffmpeg recognises as something else is refused.
ALLOWED_DEMUXERS = (
    "mov",  # MP4, MOV, M4A, 3GP (the demuxer is named "mov,mp4,m4a,3gp,3g2,mj2")
    "matroska",  # MKV and WebM ("matroska,webm")
    "avi",
    "mpegts",  # MPEG-TS (.ts, .m2ts)
    "mpeg",  # MPEG-PS (.mpg, .vob)
    "flv",
    "ogg",  # Ogg Vorbis, Opus, Theora
    "asf",  # WMV, WMA
    "wav",
    "w64",
    "aiff",
    "caf",
    "mp3",
    "flac",
    "aac",  # raw ADTS AAC
    "amr",
)
# The input is opened through the `file` protocol and no other: nothing inside a file can make
# ffmpeg open a URL, a device or another protocol (`concat:`, `subfile,`, `http:`, `pipe:`).
ALLOWED_PROTOCOLS = "file"
UNSUPPORTED_MESSAGE = (
    "The file is not a video or audio file in a format this service reads "
    "(MP4, MOV, MKV, WebM, AVI, MPEG, FLV, Ogg, WMV, WAV, AIFF, MP3, FLAC or AAC)."
)
# Loading ffmpeg's libraries alone takes about 250 MiB of address space; a conversion adds
# little to that (58 MiB resident for a 10-minute file). RLIMIT_AS counts address space, not
# resident memory, so the default leaves room for decoder threads on bigger machines.
DEFAULT_MEMORY_BYTES = 2 * 1024**3
# A 4-hour recording takes about 200 s of CPU to convert on the bench machine; ten times that
# still ends a decoder that spins, as a failed job instead of a converter busy for ever.
DEFAULT_CPU_SECONDS = 1800
# Four hours: a few megabytes can hold hours of near-silence, each a converter's minutes.
DEFAULT_MAX_DURATION_SECONDS = 4 * 3600
# After the CPU limit, ffmpeg gets SIGXCPU and stops on its own, as on Ctrl-C; one that does
# not (a decoder stuck in a loop) is killed this many CPU seconds later.
CPU_LIMIT_GRACE_SECONDS = 5
# The kernel checks the CPU limit on its own clock ticks; the CPU time os.wait4 reports can come
# out a little under the limit that ended the process.
CPU_ACCOUNTING_SLACK_SECONDS = 0.5


class MediaError(Exception):
    """The file itself is the problem (unreadable, no audio); retrying will not help.

    The message is a plain sentence meant for the user; ``code`` is the API's error code for it.
    """

    code = "unsupported_media"


class TooLong(MediaError):
    """The recording is longer than the service converts."""

    code = "too_long"


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


@dataclass(frozen=True)
class Limits:
    """What one file may cost: its length, and the CPU time and memory of each ffprobe or ffmpeg."""

    max_duration_seconds: int = DEFAULT_MAX_DURATION_SECONDS
    cpu_seconds: int = DEFAULT_CPU_SECONDS
    memory_bytes: int = DEFAULT_MEMORY_BYTES

    def prlimit(self, cpu_seconds=None):
        """The `prlimit` command line that runs a program under these limits.

        util-linux's prlimit sets the limits and then executes the program: they hold from its
        first instruction, and nothing runs in our process between fork and exec, which
        `preexec_fn` would do, unsafely in a threaded server.
        """
        cpu = cpu_seconds or self.cpu_seconds
        return ["prlimit", f"--cpu={cpu}:{cpu + CPU_LIMIT_GRACE_SECONDS}", f"--as={self.memory_bytes}", "--"]


DEFAULT_LIMITS = Limits()


def input_arguments(path):
    """The options that make ffprobe or ffmpeg open ``path`` as an allowed container, and only it."""
    # "file:" and an absolute path: a name is never read as a protocol or a URL.
    return ["-format_whitelist", ",".join(ALLOWED_DEMUXERS), "-protocol_whitelist", ALLOWED_PROTOCOLS,
            f"file:{os.path.abspath(path)}"]


def probe(path, limits=DEFAULT_LIMITS):
    """Describe the first audio stream of ``path``, or raise MediaError saying what is wrong."""
    command = [
        # A probe reads a few frames: it gets the smaller of the CPU limit and its wall-clock timeout.
        *limits.prlimit(cpu_seconds=min(limits.cpu_seconds, PROBE_TIMEOUT_SECONDS)),
        "ffprobe", "-v", "error", "-print_format", "json",
        "-show_entries", "format=duration:stream=codec_type,codec_name,channels",
        *input_arguments(path),
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
        raise MediaError(UNSUPPORTED_MESSAGE)
    description = json.loads(result.stdout or b"{}")
    audio_streams = [s for s in description.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio_streams:
        raise MediaError("The file has no audio track to convert.")
    audio = audio_streams[0]
    duration = description.get("format", {}).get("duration")
    info = MediaInfo(
        duration_seconds=float(duration) if duration not in (None, "N/A") else None,
        audio_codec=audio.get("codec_name", "unknown"),
        audio_channels=int(audio.get("channels") or MAX_CHANNELS),
    )
    if info.duration_seconds is not None and info.duration_seconds > limits.max_duration_seconds:
        raise TooLong(f"The recording is {duration_text(info.duration_seconds, units=2)} long; "
                      f"the limit is {duration_text(limits.max_duration_seconds)}.")
    return info


def duration_text(seconds, units=None):
    """A length as people say it: "5 h 0 min" for 18000 with ``units=2``, "4 h" for 14400 without.

    ``units`` is how many units to show, from the largest that is not zero; without it, every
    unit up to the last that is not zero.
    """
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "min"), (secs, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    if units is not None:
        parts = parts[:units]
    else:
        while len(parts) > 1 and parts[-1][0] == 0:
            parts.pop()
    return " ".join(f"{value} {unit}" for value, unit in parts)


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
    *source_options, source_url = input_arguments(source_path)
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
        "-max_error_rate", str(MAX_DECODE_ERROR_RATE),
        # The same allow-lists as the probe's: a message replayed with another file in GridFS,
        # or a job the gateway never saw, gets no further here than at upload.
        *source_options, "-i", source_url,
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        *codec,
        "-f", "mp3",
        # Progress lines (key=value) on stdout let us report a percentage without parsing stderr.
        "-progress", "pipe:1", "-nostats",
        f"file:{os.path.abspath(target_path)}",
    ]


def extract_mp3(source_path, target_path, preset=None, on_progress=None, should_cancel=None, info=None,
                limits=DEFAULT_LIMITS):
    """Write the audio of ``source_path`` to ``target_path`` as MP3; return the source's MediaInfo.

    ``info`` is the file's MediaInfo when it was probed already (the gateway probes every
    upload); without it the file is probed first, which costs 0.15 s, a quarter of the whole
    conversion of a 30-second video. ``on_progress(percent)`` is called as ffmpeg reports
    progress; ``should_cancel()`` is polled between progress lines and, when true, stops ffmpeg
    and raises ConversionCancelled. ffmpeg runs within ``limits``: a recording that turns out
    longer than allowed (its length was unknown until now), or that needs more CPU time or
    memory, raises MediaError.
    """
    if info is None:
        info = probe(source_path, limits)
    command = [*limits.prlimit(), *mp3_command(source_path, target_path, info, preset)]
    max_duration_us = limits.max_duration_seconds * 1_000_000
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
            if key != "out_time_us" or not value.isdigit():
                continue
            if int(value) > max_duration_us:
                ffmpeg.kill()
                ffmpeg.wait()
                raise TooLong(f"The recording is longer than the limit of "
                              f"{duration_text(limits.max_duration_seconds)}.")
            if on_progress and info.duration_seconds:
                on_progress(min(99, int(value) / 1e6 / info.duration_seconds * 100))
        returncode, cpu_seconds = _wait_with_cpu_time(ffmpeg)
        stderr_reader.join()
    if returncode != 0:
        if should_cancel is not None and should_cancel():
            # Stopping, and ffmpeg ended early: whatever ended it, it was not the file.
            raise ConversionCancelled(source_path)
        stderr_text = "".join(stderr_tail).strip()[-1000:]
        logger.warning("ffmpeg failed (%s, %.1f s of CPU): %s", returncode, cpu_seconds, stderr_text)
        if cpu_seconds >= limits.cpu_seconds - CPU_ACCOUNTING_SLACK_SECONDS:
            # The limit's SIGXCPU or SIGKILL: the file made ffmpeg work far longer than any
            # recording within the length limit needs. Another attempt would do the same.
            raise MediaError("Converting the file took more processing time than this service allows.")
        if "not on whitelist" in stderr_text:
            raise MediaError(UNSUPPORTED_MESSAGE)
        if any(sign in stderr_text for sign in _OUT_OF_MEMORY_SIGNS):
            raise MediaError("Converting the file needed more memory than this service allows.")
        if returncode < 0:
            raise ConversionInterrupted(f"ffmpeg was killed by signal {-returncode}")
        raise MediaError("The audio track could not be decoded.")
    return info


# What ffmpeg prints when the address-space limit refuses it memory: an allocation failing
# (ENOMEM), or the loader unable to map a library at start.
_OUT_OF_MEMORY_SIGNS = ("Cannot allocate memory", "failed to map segment", "cannot allocate memory")


def _wait_with_cpu_time(process):
    """Wait for ``process`` to end; return its exit code and the CPU seconds it used.

    os.wait4 is what reports a child's own CPU time; Popen.wait would reap it without.
    """
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_utime + usage.ru_stime
