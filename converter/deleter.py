"""Deletes source videos on a thread of its own, so the next message does not wait for it.

On FerretDB a GridFS delete reads the whole bucket (in the bench's throughput run it took longer
than the fetch and the conversion together), and with one message in hand at a time the next
job would wait for it. MongoDB deletes by index in milliseconds; the thread costs nothing
there. A delete that is lost (the process stops or crashes first, or MongoDB is away) leaves the
video of a finished job, which the sweep removes.
"""
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)


class BackgroundDeleter:
    """Deletes blobs of ``bucket`` one at a time, off the caller's thread, at most ``max_pending`` queued."""

    def __init__(self, bucket, max_pending=4):
        self._bucket = bucket
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="video-delete")
        # A worker must not outrun its deletes for ever: the stored videos would pile up. When
        # `max_pending` are waiting, delete() waits too.
        self._slots = threading.BoundedSemaphore(max_pending)
        # Set by close(): from then on the queued deletes are skipped.
        self.closing = threading.Event()

    def delete(self, fid):
        """Queue the delete of ``fid`` and return; wait first if ``max_pending`` are queued."""
        self._slots.acquire()
        try:
            self._executor.submit(self._delete, fid)
        except RuntimeError:  # closed: the sweep removes the video of a finished job
            self._slots.release()
            self._skip(fid)

    def close(self):
        """Finish the delete in progress, skip the queued ones (the sweep finds them) and stop."""
        self.closing.set()
        self._executor.shutdown(wait=True)

    def _delete(self, fid):
        try:
            if self.closing.is_set():
                self._skip(fid)
            else:
                self._bucket.delete(fid)
        except Exception:  # the thread must outlive one failed delete
            logger.exception("could not delete blob %s; the sweep will", fid)
        finally:
            self._slots.release()

    @staticmethod
    def _skip(fid):
        logger.info("not deleting blob %s: stopping; the sweep will", fid)
