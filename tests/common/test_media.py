"""The rules ffprobe and ffmpeg are run with, and the lengths the duration limit is told in."""
import pytest

from mp3common import media


@pytest.mark.parametrize(
    "seconds, units, text",
    [
        (18000, 2, "5 h 0 min"),
        (14400, None, "4 h"),
        (5400, None, "1 h 30 min"),
        (30, 2, "30 s"),
        (600, 2, "10 min 0 s"),
        (3661, None, "1 h 1 min 1 s"),
    ],
)
def test_a_length_is_told_in_hours_minutes_and_seconds(seconds, units, text):
    assert media.duration_text(seconds, units=units) == text


@pytest.mark.parametrize("name", ["concat:a.mp4|b.mp4", "subfile,,start,0,end,0,,:x.mp4", "http://x/y.mp4", "-i"])
def test_a_file_name_is_passed_as_a_local_file_never_as_a_protocol_or_an_option(tmp_path, name):
    path = tmp_path / name.replace("/", "_")

    *options, url = media.input_arguments(str(path))

    assert url == f"file:{path}"
    assert options == ["-format_whitelist", ",".join(media.ALLOWED_DEMUXERS), "-protocol_whitelist", "file"]


def test_ffmpeg_opens_its_input_and_writes_its_output_under_the_same_rules_and_limits(tmp_path):
    info = media.MediaInfo(duration_seconds=10.0, audio_codec="aac", audio_channels=2)
    command = media.mp3_command(str(tmp_path / "in"), str(tmp_path / "out.mp3"), info, preset=None)
    limited = media.Limits(cpu_seconds=7, memory_bytes=300 * 1024**2).prlimit()

    source = command.index("-i")
    assert command[source - 4:source + 2] == [
        "-format_whitelist", ",".join(media.ALLOWED_DEMUXERS), "-protocol_whitelist", "file",
        "-i", f"file:{tmp_path / 'in'}",
    ]
    assert command[-1] == f"file:{tmp_path / 'out.mp3'}"
    assert limited == ["prlimit", "--cpu=7:12", f"--as={300 * 1024**2}", "--"]
