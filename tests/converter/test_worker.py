"""ConversionWorker.handle() on the real FerretDB, ffmpeg and RabbitMQ, called without a consumer."""
import random

import pytest

from converter.deleter import BackgroundDeleter
from converter.worker import SOURCE_LOST_REASON, ConversionWorker
from mp3common import jobs, media, messages, storage
from tests.conftest import make_video, media_duration, stored_fids
from tests.converter.conftest import announcement, assert_video_deleted, delivery


@pytest.fixture
def work_dir(tmp_path):
    directory = tmp_path / "work"
    directory.mkdir()
    return directory


@pytest.fixture
def video_deleter(videos):
    deleter = BackgroundDeleter(videos)
    yield deleter
    deleter.close()


@pytest.fixture
def worker(videos, video_deleter, mp3s, job_store, publisher, work_dir):
    return ConversionWorker(videos=videos, video_deleter=video_deleter, mp3s=mp3s, jobs=job_store,
                            publisher=publisher, work_dir=work_dir)


def test_a_video_becomes_an_mp3_of_the_same_length(worker, upload, job_store, mp3s, videos, queue, tmp_path, work_dir):
    body = upload.video("talk.mp4", seconds=3)

    worker.handle(body, delivery(body))

    job = job_store.get(body["job_id"])
    assert (job["state"], job["progress"], job["error"]) == ("done", 100, None)
    assert {"picked_up", "converted", "stored"} <= set(job["steps"])
    stored = mp3s.open(job["mp3_fid"])
    assert stored.filename == "talk.mp3"
    assert stored.metadata == {"job_id": body["job_id"], "owner_id": 7, "filename": "talk.mp3"}
    result = tmp_path / "result.mp3"
    with result.open("wb") as target:
        mp3s.copy_to(job["mp3_fid"], target)
    seconds, codec = media_duration(result)
    assert codec == "mp3"
    assert seconds == pytest.approx(3.0, abs=0.1)
    assert_video_deleted(videos, job["video_fid"])
    [announced] = queue.take(messages.MP3_QUEUE, body["job_id"])
    # The announcement names the job; its result is in the job document, read above.
    assert announced == announcement(body)
    assert list(work_dir.iterdir()) == [], "temporary files are removed"


def test_a_version_1_message_from_a_gateway_not_yet_upgraded_is_converted_too(worker, upload, job_store, queue):
    body = upload.video("rolling.mp4", seconds=1)
    job = job_store.get(body["job_id"])
    # What a gateway before version 2 published: copies of the job's fields, which are ignored.
    version_1 = {**body, "version": 1, "video_fid": job["video_fid"], "owner_id": job["owner_id"],
                 "email": job["email"], "filename": job["filename"], "preset": job["preset"]}
    messages.validate(messages.VIDEO_QUEUE, version_1)

    worker.handle(version_1, delivery(version_1))

    assert job_store.get(body["job_id"])["state"] == "done"
    assert queue.take(messages.MP3_QUEUE, body["job_id"]) == [announcement(body)]


def test_the_same_message_twice_stores_one_mp3_and_announces_it_again(worker, upload, job_store, queue, mongo_client):
    body = upload.video("twice.mkv", seconds=2)

    worker.handle(body, delivery(body))
    worker.handle(body, delivery(body, attempt=2))

    job = job_store.get(body["job_id"])
    assert stored_fids(mongo_client, storage.MP3S_DB, job_id=body["job_id"]) == [job["mp3_fid"]]
    announced = queue.take(messages.MP3_QUEUE, body["job_id"], count=2)
    assert announced == [announcement(body)] * 2


def test_a_job_that_already_has_its_mp3_is_finished_without_converting_again(
    worker, upload, job_store, mp3s, queue, tmp_path, mongo_client
):
    # As after a crash between storing the MP3 and marking the job done.
    body = upload.video("crashed.mp4", seconds=1)
    with (tmp_path / "existing.mp3").open("wb+") as existing:
        existing.write(b"an mp3 stored by the previous attempt")
        existing.seek(0)
        metadata = {"job_id": body["job_id"], "owner_id": 7, "filename": "crashed.mp3"}
        mp3_fid = mp3s.put(existing, "crashed.mp3", metadata)
    job_store.mark_converting(body["job_id"])
    job_store.record_mp3(body["job_id"], mp3_fid)

    worker.handle(body, delivery(body, attempt=2))

    job = job_store.get(body["job_id"])
    assert (job["state"], job["mp3_fid"]) == ("done", mp3_fid)
    assert stored_fids(mongo_client, storage.MP3S_DB, job_id=body["job_id"]) == [mp3_fid]
    assert queue.take(messages.MP3_QUEUE, body["job_id"]) == [announcement(body)]


def test_a_video_without_audio_fails_the_job_and_says_why(worker, upload, job_store, mp3s, videos, queue, mongo_client):
    body = upload.video("silent.mp4", seconds=1, audio=False)

    worker.handle(body, delivery(body))

    job = job_store.get(body["job_id"])
    assert (job["state"], job["mp3_fid"]) == ("failed", None)
    assert job["error"] == "The file has no audio track to convert."
    assert stored_fids(mongo_client, storage.MP3S_DB, job_id=body["job_id"]) == []
    assert_video_deleted(videos, job["video_fid"])
    assert queue.take(messages.MP3_QUEUE, body["job_id"]) == [announcement(body)]


def test_a_file_that_is_not_a_video_fails_the_job(worker, upload, job_store, mp3s, videos, queue, mongo_client):
    body = upload.file(b"\x00garbage, not a video\xff" * 1000, "holiday.mp4")

    worker.handle(body, delivery(body))

    job = job_store.get(body["job_id"])
    assert job["state"] == "failed"
    assert job["error"] == media.UNSUPPORTED_MESSAGE
    assert stored_fids(mongo_client, storage.MP3S_DB, job_id=body["job_id"]) == []
    assert_video_deleted(videos, job["video_fid"])
    assert queue.take(messages.MP3_QUEUE, body["job_id"]) == [announcement(body)]


def test_a_badly_damaged_video_fails_the_job_instead_of_hanging(worker, upload, job_store, tmp_path):
    # Damaged audio makes ffmpeg print an error per packet: far more than a pipe holds unread.
    content = bytearray(make_video(tmp_path / "damaged.mp4", seconds=40).read_bytes())
    chance = random.Random(1)
    for _ in range(len(content) // 10):
        content[chance.randrange(len(content) // 10, len(content) * 9 // 10)] = chance.randrange(256)
    body = upload.file(bytes(content), "damaged.mp4")

    worker.handle(body, delivery(body))

    job = job_store.get(body["job_id"])
    assert (job["state"], job["error"]) == ("failed", "The audio track could not be decoded.")


def test_a_source_video_that_is_gone_fails_the_job(worker, upload, job_store, queue):
    body = upload.job(filename="lost.mp4")

    worker.handle(body, delivery(body))

    job = job_store.get(body["job_id"])
    assert (job["state"], job["error"]) == ("failed", SOURCE_LOST_REASON)
    assert queue.take(messages.MP3_QUEUE, body["job_id"]) == [announcement(body)]


def test_a_failed_job_is_announced_again_on_redelivery_without_retrying(worker, upload, job_store, queue):
    body = upload.file(b"not a video", "x.mp4")
    worker.handle(body, delivery(body))

    worker.handle(body, delivery(body, attempt=2))

    announced = queue.take(messages.MP3_QUEUE, body["job_id"], count=2)
    assert announced == [announcement(body)] * 2
    assert job_store.get(body["job_id"])["state"] == "failed"


def test_a_deleted_job_is_skipped(worker, upload, job_store, queue):
    body = upload.video("deleted.mp4", seconds=1)
    job_store.delete(body["job_id"])

    worker.handle(body, delivery(body))

    assert queue.collect(messages.MP3_QUEUE, body["job_id"], timeout=1) == []


class JobsDeletedWhileConverting(jobs.Jobs):
    """The real jobs collection, with the job's owner deleting it while ffmpeg runs."""

    def mark_converted(self, job_id):
        self.delete(job_id)


def test_a_job_deleted_while_converting_leaves_no_files_behind(
    videos, video_deleter, mp3s, mongo_client, publisher, upload, work_dir, queue
):
    body = upload.video("regret.mp4", seconds=1)
    video_fid = upload.video_fid(body)
    worker = ConversionWorker(videos=videos, video_deleter=video_deleter, mp3s=mp3s,
                              jobs=JobsDeletedWhileConverting(mongo_client), publisher=publisher, work_dir=work_dir)

    worker.handle(body, delivery(body))

    assert stored_fids(mongo_client, storage.MP3S_DB, job_id=body["job_id"]) == []
    assert_video_deleted(videos, video_fid)
    assert queue.collect(messages.MP3_QUEUE, body["job_id"], timeout=1) == []


def test_a_conversion_stopped_by_shutdown_leaves_no_files_and_the_job_to_retry(
    videos, video_deleter, mp3s, job_store, publisher, upload, work_dir
):
    body = upload.video("long.mp4", seconds=3)
    worker = ConversionWorker(videos=videos, video_deleter=video_deleter, mp3s=mp3s, jobs=job_store,
                              publisher=publisher, work_dir=work_dir, should_cancel=lambda: True)

    with pytest.raises(media.ConversionCancelled):
        worker.handle(body, delivery(body))

    assert list(work_dir.iterdir()) == []
    job = job_store.get(body["job_id"])
    assert (job["state"], job["mp3_fid"]) == ("converting", None)
    assert videos.open(job["video_fid"]).length > 0, "the source is kept for the next attempt"


class SourceTakenByAnotherDelivery(storage.Bucket):
    """The real videos bucket, where another delivery of the same job finishes it (and deletes its
    source, as the converter does) just before this delivery copies the source."""

    def __init__(self, client, job_store, job_id):
        super().__init__(client, storage.VIDEOS_DB)
        self._job_store = job_store
        self._job_id = job_id

    def copy_to(self, fid, target):
        self._job_store.record_mp3(self._job_id, "0123456789abcdef01234567")
        self._job_store.mark_done(self._job_id)
        self.delete(fid)
        super().copy_to(fid, target)


def test_a_late_duplicate_that_finds_the_source_gone_does_not_fail_a_done_job(
    mongo_client, video_deleter, mp3s, job_store, publisher, upload, work_dir, queue
):
    body = upload.video("race.mp4", seconds=1)
    videos = SourceTakenByAnotherDelivery(mongo_client, job_store, body["job_id"])
    worker = ConversionWorker(videos=videos, video_deleter=video_deleter, mp3s=mp3s, jobs=job_store,
                              publisher=publisher, work_dir=work_dir)

    worker.handle(body, delivery(body, attempt=2))

    job = job_store.get(body["job_id"])
    assert (job["state"], job["error"]) == ("done", None)
    # The delivery that finished the job announces it; a "failed" announcement would email the
    # user that a converted file could not be converted.
    assert queue.collect(messages.MP3_QUEUE, body["job_id"], timeout=1) == []
