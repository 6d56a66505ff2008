"""ffmpeg stopped from outside is not blamed on the file: only a file ffmpeg cannot decode fails a job."""
import os
import signal
import threading
from pathlib import Path

import pytest

from mp3common import media
from tests.conftest import make_video


def signal_ffmpeg(signum):
    """Send ``signum`` to the ffmpeg this thread started (the children of the calling thread)."""
    children = Path(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/children").read_text().split()
    for pid in children:
        os.kill(int(pid), signum)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("media") / "talk.mp4", seconds=60, size="64x48")


def test_ffmpeg_killed_by_a_signal_is_an_error_to_retry_not_a_broken_file(video, tmp_path):
    def kill_ffmpeg(percent):
        signal_ffmpeg(signal.SIGKILL)

    with pytest.raises(media.ConversionInterrupted, match="signal 9"):
        media.extract_mp3(str(video), str(tmp_path / "out.mp3"), on_progress=kill_ffmpeg)


def test_ffmpeg_ended_by_a_stop_signal_while_the_worker_stops_is_a_cancelled_conversion(video, tmp_path):
    stopping = threading.Event()

    def stop_everything(percent):
        stopping.set()
        signal_ffmpeg(signal.SIGTERM)

    with pytest.raises(media.ConversionCancelled):
        media.extract_mp3(str(video), str(tmp_path / "out.mp3"), on_progress=stop_everything,
                          should_cancel=stopping.is_set)


def test_a_file_probed_already_is_converted_without_running_ffprobe_again(video, tmp_path, monkeypatch):
    probed = media.probe(str(video))
    # An ffprobe first on PATH that leaves a mark and fails: any call to it shows, and breaks.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake_ffprobe = fake_bin / "ffprobe"
    fake_ffprobe.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ffprobe-ran'}\nexit 1\n")
    fake_ffprobe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    progress = []

    info = media.extract_mp3(str(video), str(tmp_path / "out.mp3"), on_progress=progress.append, info=probed)

    assert info == probed
    assert not (tmp_path / "ffprobe-ran").exists()
    assert (tmp_path / "out.mp3").stat().st_size > 0
    assert progress and max(progress) > 50, "the duration for the percentages came from the earlier probe"
    with pytest.raises(media.MediaError):
        media.probe(str(video))  # the fake was in the way all along
