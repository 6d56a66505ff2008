"""Fixtures for the converter's tests: its own RabbitMQ vhost, the real GridFS buckets and jobs
collection, and a way to read what the converter published."""
import json
import time
import uuid

import pytest
from bson import ObjectId

from mp3common import broker, jobs, messages, storage
from tests.conftest import blob_exists, fresh_vhost, make_video


@pytest.fixture(scope="module")
def amqp_url(stack):
    """A RabbitMQ vhost for this test module alone.

    It overrides the session's: the end-to-end tests keep a whole system consuming the session
    vhost's `video` and `mp3` queues, and it would take the messages these tests look for.
    """
    with fresh_vhost(stack, "test-converter") as url:
        yield url


@pytest.fixture
def publisher(amqp_url):
    publisher = broker.Publisher(amqp_url, max_deliveries=3)
    yield publisher
    publisher.close()


@pytest.fixture
def videos(mongo_client):
    return storage.Bucket(mongo_client, storage.VIDEOS_DB)


@pytest.fixture
def mp3s(mongo_client):
    return storage.Bucket(mongo_client, storage.MP3S_DB)


@pytest.fixture
def job_store(mongo_client):
    return jobs.Jobs(mongo_client)


class Upload:
    """Stores files and jobs the way the gateway does after an upload."""

    def __init__(self, videos, job_store, tmp_path):
        self.videos = videos
        self.job_store = job_store
        self.tmp_path = tmp_path

    def video(self, filename="talk.mp4", **video_options):
        """Generate a video with ffmpeg, store it and create its queued job; return the video message."""
        path = make_video(self.tmp_path / f"{uuid.uuid4().hex}{_suffix(filename)}", **video_options)
        return self.file(path.read_bytes(), filename)

    def file(self, content, filename="talk.mp4"):
        """Store ``content`` as an upload named ``filename``; return the video message."""
        job_id = jobs.new_job_id()
        owner_id = 7
        source = self.tmp_path / f"upload-{job_id}"
        source.write_bytes(content)
        with source.open("rb") as upload:
            metadata = {"job_id": job_id, "owner_id": owner_id, "filename": filename}
            video_fid = self.videos.put(upload, filename, metadata)
        return self.job(job_id=job_id, video_fid=video_fid, filename=filename)

    def job(self, *, job_id=None, video_fid=None, filename="talk.mp4", owner_id=7):
        """Create a queued job (its video may or may not exist); return its video message."""
        body = messages.job_message(job_id or jobs.new_job_id(), f"test-{uuid.uuid4().hex[:8]}")
        self.job_store.create(
            job_id=body["job_id"], owner_id=owner_id, email=f"user-{uuid.uuid4().hex[:8]}@example.com",
            filename=filename, preset="vbr-high", video_fid=video_fid or str(ObjectId()),
            correlation_id=body["correlation_id"],
        )
        return body

    def video_fid(self, body):
        """The source video of the message's job."""
        return self.job_store.get(body["job_id"])["video_fid"]


def _suffix(filename):
    return "." + filename.rpartition(".")[2] if "." in filename else ".mp4"


@pytest.fixture
def upload(videos, job_store, tmp_path):
    return Upload(videos, job_store, tmp_path)


class QueueReader:
    """Takes messages off a queue of the test vhost, keeping those about one job."""

    def __init__(self, amqp_url):
        self.amqp_url = amqp_url

    def collect(self, queue, job_id, count=1, timeout=30):
        """Messages about ``job_id`` as (body, properties) pairs, once ``count`` came or time ran out."""
        found = []
        connection = broker.connect(self.amqp_url)
        try:
            channel = connection.channel()
            broker.declare_topology(channel, max_deliveries=3)
            deadline = time.monotonic() + timeout
            while len(found) < count and time.monotonic() < deadline:
                method, properties, raw = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    time.sleep(0.1)
                elif properties.message_id == job_id:
                    found.append((json.loads(raw), properties))
        finally:
            connection.close()
        return found

    def take(self, queue, job_id, count=1, timeout=30):
        """Wait for ``count`` messages about ``job_id``; return their bodies."""
        found = self.collect(queue, job_id, count, timeout)
        assert len(found) == count, f"{count} message(s) about {job_id} expected on {queue}, got {len(found)}"
        return [body for body, _properties in found]


@pytest.fixture
def queue(amqp_url):
    return QueueReader(amqp_url)


def delivery(body, attempt=1):
    """What the consumer hands handle() beside the body, for the ``attempt``-th delivery."""
    return broker.Delivery(attempt=attempt, redelivered=attempt > 1, correlation_id=body["correlation_id"])


def announcement(body):
    """The `mp3` message for the video message's job: its id and correlation id, nothing more."""
    return messages.job_message(body["job_id"], body["correlation_id"])


def assert_video_deleted(videos, video_fid, timeout=60):
    """Wait until the source is gone: handle() queues its delete for another thread."""
    deadline = time.monotonic() + timeout
    while blob_exists(videos, video_fid):
        assert time.monotonic() < deadline, f"video {video_fid} still stored after {timeout} s"
        time.sleep(0.05)
