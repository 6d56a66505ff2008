"""The bench's videos, generated with ffmpeg into bench/corpus/ (git-ignored) when missing.

Generation is made cheap on two cores: the picture is a test pattern at 5 frames per second,
encoded with x264's ultrafast preset, and the sound is one two-minute piece, encoded to AAC once
and copied (not re-encoded) into every video, looped as long as the video lasts. The sound is
what the converter works on, so it is made hard to compress: three sine tones under a tremolo
(chords that swell and fade) mixed with pink noise. Where a file must reach a size, noise is
added to the picture too, because x264 cannot spend 5 Mbit/s on a clean test pattern.
"""
from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mp3common import media

logger = logging.getLogger(__name__)

MUSIC_SECONDS = 120
MUSIC_FILE = "music.m4a"
FRAMES_PER_SECOND = 5
# One file can take minutes on two cores (the 1 GB one writes 1 GB); a hung ffmpeg must not
# hold the bench forever.
GENERATION_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class VideoSpec:
    """One video of the corpus: its name in results, length, frame size and video bitrate."""

    name: str
    description: str
    seconds: int
    frame_size: str
    video_bitrate: str
    # A noisy picture lets x264 actually reach the bitrate (and so the file size) asked for.
    noisy_picture: bool

    @property
    def filename(self):
        return f"{self.name}.mp4"


SPECS = {
    spec.name: spec
    for spec in [
        VideoSpec("30s", "30 s, 720p, H.264/AAC, ~8 MB", 30, "1280x720", "2000k", True),
        VideoSpec("10min", "10 min, 720p, H.264/AAC, ~400 MB", 600, "1280x720", "5300k", True),
        VideoSpec("60min", "60 min, 360p, H.264/AAC, ~300 MB", 3600, "640x360", "500k", False),
        VideoSpec("1gb", "10 min, 720p, H.264/AAC at 13.5 Mbit/s, ~1 GB", 600, "1280x720", "13500k", True),
    ]
}
SMALLEST = "30s"


@dataclass(frozen=True)
class CorpusVideo:
    """One video as results.md describes it."""

    file: str
    description: str
    size_mb: float
    duration_seconds: float


def ensure(names, corpus_dir: Path) -> dict[str, Path]:
    """Return {name: path} for the named videos, generating those not yet in ``corpus_dir``."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    music = corpus_dir / MUSIC_FILE
    paths = {}
    for name in names:
        spec = SPECS[name]
        path = corpus_dir / spec.filename
        if not path.exists():
            if not music.exists():
                _generate(music, music_command)
            logger.info("generating %s (%s)", path.name, spec.description)
            _generate(path, lambda target, spec=spec: video_command(spec, music, target))
        paths[name] = path
    return paths


def music_command(target):
    """ffmpeg command for the sound: a chord that swells and fades, over pink noise, in AAC."""
    tones = [
        f"sine=frequency={frequency}:sample_rate=44100:duration={MUSIC_SECONDS}"
        for frequency in (220, 277.18, 329.63)
    ]
    inputs = []
    for source in tones:
        inputs += ["-f", "lavfi", "-i", source]
    inputs += ["-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.05:sample_rate=44100:duration={MUSIC_SECONDS}"]
    mix = "[0:a][1:a][2:a][3:a]amix=inputs=4,tremolo=f=2:d=0.5,aformat=channel_layouts=stereo[music]"
    return [
        "ffmpeg", "-nostdin", "-v", "error", "-y", *inputs,
        "-filter_complex", mix, "-map", "[music]", "-c:a", "aac", "-b:a", "160k", "-f", "mp4", str(target),
    ]


def video_command(spec, music, target):
    """ffmpeg command for one video: a test pattern, and the music looped to the video's length."""
    picture = f"testsrc2=size={spec.frame_size}:rate={FRAMES_PER_SECOND}"
    if spec.noisy_picture:
        picture += ",noise=alls=25:allf=t"
    return [
        "ffmpeg", "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", picture,
        "-stream_loop", "-1", "-i", str(music),
        "-map", "0:v", "-map", "1:a", "-t", str(spec.seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-b:v", spec.video_bitrate, "-maxrate", spec.video_bitrate, "-bufsize", spec.video_bitrate,
        "-c:a", "copy", "-f", "mp4", str(target),
    ]


def _generate(path, command_for):
    """Run ffmpeg into a temporary name and rename it, so an interrupted run leaves no half file."""
    partial = path.with_name(path.name + ".partial")
    try:
        subprocess.run(command_for(partial), check=True, timeout=GENERATION_TIMEOUT_SECONDS)
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)


def describe(videos: dict[str, Path]) -> dict[str, CorpusVideo]:
    """{name: CorpusVideo} for the videos ``ensure`` returned, with their size and probed length."""
    return {
        name: CorpusVideo(file=path.name, description=SPECS[name].description,
                          size_mb=round(path.stat().st_size / (1024 * 1024), 1),
                          duration_seconds=round(media.probe(str(path)).duration_seconds, 1))
        for name, path in videos.items()
    }
