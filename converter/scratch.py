"""The converter's scratch directory: one per process inside WORK_DIR, locked while it lives.

A conversion writes the video and the MP3 to temporary files that are removed however the
conversion ends, except when the process is killed (SIGKILL, the OOM killer): then they stay.
A Kubernetes emptyDir outlives a container restart, so a converter killed again and again would
fill it. Each process therefore works in a directory of its own, holding an exclusive lock on a
file inside it; the kernel drops the lock when the process dies, however it dies. A converter
starting up removes every directory whose lock it can take, since nothing alive holds it.
"""
import fcntl
import logging
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

PREFIX = "converter-"
LOCK_NAME = ".lock"
# Held while directories are checked and made, so two converters starting together cannot
# take each other's new directory for a dead one's.
CLAIM_LOCK_NAME = ".converter-scratch.lock"


class ScratchDir:
    """This process's scratch directory (``path``); remove() it at a clean exit."""

    def __init__(self, path, lock_file):
        self.path = path
        self._lock_file = lock_file

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)
        self._lock_file.close()


def claim(work_dir):
    """Remove the scratch directories of dead converters in ``work_dir``; make and lock our own."""
    work_dir = Path(work_dir)
    with open(work_dir / CLAIM_LOCK_NAME, "a") as claim_lock:
        fcntl.flock(claim_lock, fcntl.LOCK_EX)
        for directory in work_dir.glob(f"{PREFIX}*"):
            if directory.is_dir() and not _is_locked(directory / LOCK_NAME):
                logger.info("removing %s, left by a converter that did not exit cleanly", directory)
                shutil.rmtree(directory, ignore_errors=True)
        path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=work_dir))
        lock_file = open(path / LOCK_NAME, "w")  # held open for the process's life
        fcntl.flock(lock_file, fcntl.LOCK_EX)
    return ScratchDir(path, lock_file)


def _is_locked(lock_path):
    """True while a live process holds ``lock_path``; False if it is free or missing."""
    try:
        with open(lock_path) as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except FileNotFoundError:
        # Made under the claim lock with its lock file already inside: without one, its
        # maker died between the two steps.
        return False
    except BlockingIOError:
        return True
    return False
