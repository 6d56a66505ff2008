"""BackgroundDeleter on the real FerretDB: deletes off the caller's thread, bounded, and stops cleanly."""
import threading

import pytest

from converter.deleter import BackgroundDeleter
from converter.worker import ConversionWorker
from mp3common import messages, storage
from tests.conftest import blob_exists
from tests.converter.conftest import announcement, assert_video_deleted, delivery

# How long a test waits for something it expects to happen at once; reached only on a failure.
EXPECTED_SOON = 60


class HeldBucket(storage.Bucket):
    """The real videos bucket, whose delete() waits until the test releases it."""

    def __init__(self, client):
        super().__init__(client, storage.VIDEOS_DB)
        self.started = threading.Event()
        self.release = threading.Event()

    def delete(self, fid):
        self.started.set()
        assert self.release.wait(EXPECTED_SOON), "the test never released the delete"
        super().delete(fid)


class FailingOnceBucket(storage.Bucket):
    """The real videos bucket, whose first delete() fails as if MongoDB had gone away."""

    def __init__(self, client):
        super().__init__(client, storage.VIDEOS_DB)
        self.failed = False

    def delete(self, fid):
        if not self.failed:
            self.failed = True
            raise storage.UNAVAILABLE[0]("MongoDB went away")
        super().delete(fid)


@pytest.fixture
def held(mongo_client):
    bucket = HeldBucket(mongo_client)
    yield bucket
    bucket.release.set()  # a failing test must not leave the deleter's thread waiting


def stored(upload, name):
    return upload.video_fid(upload.file(f"the video {name}".encode(), f"{name}.mp4"))


def test_the_job_is_announced_and_handled_while_its_source_is_still_being_deleted(
    held, videos, mp3s, job_store, publisher, upload, tmp_path, queue
):
    body = upload.video("quick.mp4", seconds=1)
    video_fid = upload.video_fid(body)
    deleter = BackgroundDeleter(held)
    worker = ConversionWorker(videos=videos, video_deleter=deleter, mp3s=mp3s, jobs=job_store,
                              publisher=publisher, work_dir=tmp_path)

    worker.handle(body, delivery(body))  # returns (and the message would be acked) with the delete held

    assert held.started.wait(EXPECTED_SOON)
    assert job_store.get(body["job_id"])["state"] == "done"
    assert queue.take(messages.MP3_QUEUE, body["job_id"]) == [announcement(body)]
    assert blob_exists(videos, video_fid), "the delete is still held"
    held.release.set()
    assert_video_deleted(videos, video_fid)
    deleter.close()


def test_a_caller_waits_once_max_pending_deletes_are_queued(held, videos, upload):
    first, second, third = (stored(upload, name) for name in ("first", "second", "third"))
    deleter = BackgroundDeleter(held, max_pending=2)
    deleter.delete(first)
    assert held.started.wait(EXPECTED_SOON)
    deleter.delete(second)  # queued behind the held one: the second slot
    third_queued = threading.Event()
    caller = threading.Thread(target=lambda: (deleter.delete(third), third_queued.set()))
    caller.start()

    # The third waits for a slot; if it did not, it would be queued within this second.
    assert not third_queued.wait(1)
    held.release.set()
    assert third_queued.wait(EXPECTED_SOON)
    caller.join()
    for fid in (first, second, third):
        assert_video_deleted(videos, fid)
    deleter.close()


def test_close_finishes_the_delete_in_progress_and_leaves_the_queued_ones_to_the_sweep(held, videos, upload):
    in_progress, queued = stored(upload, "in-progress"), stored(upload, "queued")
    deleter = BackgroundDeleter(held)
    deleter.delete(in_progress)
    assert held.started.wait(EXPECTED_SOON)
    deleter.delete(queued)
    closing = threading.Thread(target=deleter.close)
    closing.start()
    assert deleter.closing.wait(EXPECTED_SOON)

    held.release.set()
    closing.join(EXPECTED_SOON)

    assert not closing.is_alive()
    assert not blob_exists(videos, in_progress)
    assert blob_exists(videos, queued), "the sweep removes the source of a finished job"
    deleter.delete(queued)  # after close: not an error, and not done
    assert blob_exists(videos, queued)


def test_a_failed_delete_is_logged_and_the_next_one_is_done(mongo_client, videos, upload, caplog):
    failing, later = stored(upload, "failing"), stored(upload, "later")
    deleter = BackgroundDeleter(FailingOnceBucket(mongo_client))

    deleter.delete(failing)
    deleter.delete(later)

    assert_video_deleted(videos, later)
    deleter.close()
    assert blob_exists(videos, failing), "left to the sweep"
    assert f"could not delete blob {failing}; the sweep will" in caplog.text
