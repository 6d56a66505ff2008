"""Fixtures for the notification service's tests: its own RabbitMQ vhost, the real jobs
collection, finished jobs to announce, and a throwaway SMTP server for outage tests."""
import dataclasses
import subprocess
import time

import pytest
from bson import ObjectId

from mp3common import jobs, messages
from tests.conftest import PYTHON, Mailbox, free_port, fresh_vhost, port_is_open

LINK_SECRET = b"a-test-secret-of-at-least-32-characters"


@pytest.fixture(scope="module")
def amqp_url(stack):
    """A RabbitMQ vhost for this test module alone.

    It overrides the session's: the end-to-end tests keep a whole system consuming the session
    vhost's `mp3` queue, and it would send the emails these tests count.
    """
    with fresh_vhost(stack, "test-notification") as url:
        yield url


@pytest.fixture
def job_store(mongo_client):
    return jobs.Jobs(mongo_client)


@dataclasses.dataclass(frozen=True)
class FinishedJob:
    """A job the converter has finished: the `mp3` message it published, and what the email is sent to."""

    message: dict
    email: str
    mp3_fid: str | None


@pytest.fixture
def finished_job(job_store):
    """Create a job the converter has finished; return it with the `mp3` message it would publish."""

    def finish(status="done", filename="talk.mp4", reason="The file has no audio track to convert."):
        job_id = jobs.new_job_id()
        email = f"user-{job_id[:10]}@example.com"
        mp3_fid = str(ObjectId()) if status == "done" else None
        job_store.create(
            job_id=job_id, owner_id=7, email=email, filename=filename, preset="vbr-high",
            video_fid=str(ObjectId()), correlation_id=f"test-{job_id[:8]}",
        )
        job_store.mark_converting(job_id)
        if status == "done":
            job_store.record_mp3(job_id, mp3_fid)
            job_store.mark_done(job_id)
        else:
            job_store.mark_failed(job_id, reason)
        return FinishedJob(messages.job_message(job_id, f"test-{job_id[:8]}"), email, mp3_fid)

    return finish


class ThrowawaySmtpServer:
    """An aiosmtpd process of the test's own, on a port chosen before it listens."""

    def __init__(self, mail_dir):
        self.port = free_port()
        self.mailbox = Mailbox(mail_dir)
        self._mail_dir = mail_dir
        self._process = None

    def start(self):
        self._process = subprocess.Popen(
            [PYTHON, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self._mail_dir)],
        )
        deadline = time.monotonic() + 15
        while not port_is_open(self.port):
            assert time.monotonic() < deadline, "the throwaway SMTP server did not start"
            time.sleep(0.1)

    def stop(self):
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)


@pytest.fixture
def smtp_server(tmp_path):
    server = ThrowawaySmtpServer(tmp_path / "mail")
    yield server
    server.stop()
