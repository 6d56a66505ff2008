"""Each converter works in a scratch directory of its own; one left by a killed converter is
removed by the next one to start, and one still in use is not."""
import signal
import subprocess

from converter import scratch
from tests.conftest import PYTHON, REPO

KILLED_CONVERTER = """
import os, signal, sys
from converter import scratch
directory = scratch.claim(sys.argv[1])
(directory.path / "video-half-copied").write_bytes(b"x" * 1000)
print(directory.path, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_directory_of_a_killed_converter_is_removed_and_a_live_ones_is_kept(tmp_path):
    killed = subprocess.run([PYTHON, "-c", KILLED_CONVERTER, str(tmp_path)], cwd=REPO, capture_output=True,
                            text=True, timeout=30)
    assert killed.returncode == -signal.SIGKILL
    left_behind = tmp_path / killed.stdout.strip().rsplit("/", 1)[1]
    assert left_behind.is_dir()
    live = scratch.claim(tmp_path)

    mine = scratch.claim(tmp_path)

    assert not left_behind.exists()
    assert live.path.is_dir(), "a directory whose converter still runs is in use"
    assert mine.path != live.path
    mine.remove()
    live.remove()
    assert not mine.path.exists() and not live.path.exists()
