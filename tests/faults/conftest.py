"""Fixtures for the fault-injection tests: the whole system as real processes on a RabbitMQ vhost
of each module's own, users who upload through the public API, and servers of the local stack
stopped and started again.

Stopping a stack server disturbs everyone using the stack at that moment, so each outage is as
short as the test allows and the server is started again however the test ends.
"""
import contextlib
import os
import shutil
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from mp3common import broker, messages
from tests.conftest import ServiceProcess, fresh_vhost, run_stack, start_system

PASSWORD = "correct horse battery"
# The rate limits are not under test here, and a test that retries through an outage sends far
# more requests than a person would. The periodic sweep stays off: it would sweep the databases
# every other test run on this stack shares (tests/faults/test_sweep.py runs it on purpose).
SYSTEM_SETTINGS = {
    "LOGIN_RATE_LIMIT": "10000/60",
    "REGISTER_RATE_LIMIT": "10000/60",
    "UPLOAD_RATE_LIMIT": "10000/60",
    "SWEEP_INTERVAL_SECONDS": "0",
}


@pytest.fixture(scope="module")
def amqp_url(stack):
    """A vhost for this module alone, so that no other test's consumers take its messages."""
    with fresh_vhost(stack, "test-faults") as url:
        yield url


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("converter-work")


@pytest.fixture(scope="module")
def upload_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gateway-uploads")


@pytest.fixture(scope="module")
def system_settings():
    """The services' environment for this module, beyond the defaults; a module may override it."""
    return SYSTEM_SETTINGS


@pytest.fixture(scope="module")
def system(tmp_path_factory, stack, amqp_url, mongo_uri, mysql_database, secrets_dir, work_dir, upload_dir,
           system_settings):
    """The four services as real processes, for this module; a test that stops one starts it again."""
    running = start_system(tmp_path_factory, stack, amqp_url, mongo_uri, mysql_database, secrets_dir,
                           WORK_DIR=str(work_dir), UPLOAD_DIR=str(upload_dir), **system_settings)
    yield running
    # All at once: each takes a second or two to stop, and none waits for another.
    with ThreadPoolExecutor(len(running.services)) as pool:
        list(pool.map(ServiceProcess.stop, running.services.values()))


@contextlib.contextmanager
def restarted_with(service, **env):
    """Restart ``service`` with these environment variables changed; restart it as it was at the end."""
    original = dict(service.env)
    service.stop()
    service.env.update(env)
    try:
        service.start()
        yield service
    finally:
        service.stop()
        service.env.clear()
        service.env.update(original)
        service.start()


@contextlib.contextmanager
def server_stopped(name):
    """Stop one server of the local stack (rabbitmq, mongo, mysql, smtp); start it again at the end."""
    run_stack("stop", name)
    try:
        yield
    finally:
        run_stack("start", name)


class Client:
    """A registered user of the public API, as a script or an app would use it."""

    def __init__(self, gateway_url, user_id, email, token):
        self.gateway_url = gateway_url
        self.user_id = user_id
        self.email = email
        self.headers = {"Authorization": f"Bearer {token}"}

    @classmethod
    def register(cls, gateway_url):
        """Register a user with an address no other test uses, and log in."""
        email = f"faults-{uuid.uuid4().hex[:12]}@example.com"
        registered = requests.post(f"{gateway_url}/register", json={"email": email, "password": PASSWORD},
                                   timeout=30)
        assert registered.status_code == 201, registered.text
        login = requests.post(f"{gateway_url}/login", auth=(email, PASSWORD), timeout=30)
        assert login.status_code == 200, login.text
        return cls(gateway_url, registered.json()["id"], email, login.text.strip())

    def upload(self, path, idempotency_key=None, timeout=60):
        headers = dict(self.headers)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        with open(path, "rb") as video:
            return requests.post(f"{self.gateway_url}/upload", headers=headers,
                                 files={"file": (path.name, video)}, timeout=timeout)

    def upload_until_accepted(self, path, deadline_seconds=120):
        """Upload as a careful client does: on a 503 or 409, a time-out or a dropped connection,
        wait and send again with the same Idempotency-Key.

        Returns the job id, which is the same however many tries it took.
        """
        key = uuid.uuid4().hex
        deadline = time.monotonic() + deadline_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.upload(path, idempotency_key=key)
            except (requests.ConnectionError, requests.Timeout):
                response = None
            if response is not None and response.status_code in (200, 202):
                return response.json()["job_id"]
            if response is not None:
                assert response.status_code in (409, 503), response.text
                assert response.json()["error"]["code"]
            assert time.monotonic() < deadline, f"upload not accepted within {deadline_seconds}s"
            time.sleep(min(2.0, 0.25 * attempt))

    def job(self, job_id):
        response = requests.get(f"{self.gateway_url}/jobs/{job_id}", headers=self.headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def download(self, mp3_fid):
        """The MP3's bytes, fetched with the token."""
        response = requests.get(f"{self.gateway_url}/download", params={"fid": mp3_fid}, headers=self.headers,
                                timeout=60)
        assert response.status_code == 200, response.text
        return response.content

    def wait_for_job(self, job_id, condition, timeout=60, poll_seconds=0.2):
        """Poll the job until ``condition(job)`` holds; return the job."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if condition(job):
                return job
            assert time.monotonic() < deadline, f"job {job_id} did not get there within {timeout}s: {job}"
            time.sleep(poll_seconds)

    def wait_until_finished(self, job_id, timeout=60):
        return self.wait_for_job(job_id, lambda job: job["state"] in ("done", "failed"), timeout)

    def wait_until_all_finished(self, job_ids, timeout):
        """Wait, within one deadline for all of them, until every job is done or failed; return them."""
        deadline = time.monotonic() + timeout
        return [self.wait_until_finished(job_id, timeout=max(0.0, deadline - time.monotonic()))
                for job_id in job_ids]


@pytest.fixture
def client(system):
    return Client.register(system.gateway_url)


class PausedUpload:
    """A multipart upload body that stops short of its last bytes until release() is called.

    Passed to requests as ``data``: it has a length, so it goes out with a Content-Length, and
    http.client reads it block by block. The test can act while the gateway is reading the body.
    """

    HELD_BACK_BYTES = 16 * 1024

    def __init__(self, path):
        boundary = uuid.uuid4().hex
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._body = body
        # The gateway's form parser reads in blocks of 64 KiB: it must have had a few of them
        # before it starts writing the file, so the pause comes near the end of a larger video.
        self._pause_at = len(body) - self.HELD_BACK_BYTES
        assert self._pause_at > 4 * 64 * 1024, "use a larger video: the parser would not start reading"
        self._position = 0
        self.paused = threading.Event()
        self._released = threading.Event()

    def __len__(self):
        return len(self._body)

    def read(self, size=-1):
        if self._position == self._pause_at:
            self.paused.set()
            assert self._released.wait(120), "the paused upload was never released"
        end = len(self._body) if size is None or size < 0 else self._position + size
        if self._position < self._pause_at:
            end = min(end, self._pause_at)
        chunk = self._body[self._position:end]
        self._position += len(chunk)
        return chunk

    def release(self):
        self._released.set()


def send_paused_upload(client, path, upload_dir):
    """Start an upload and return once the gateway is reading its body, paused near the end.

    Returns (body, thread, outcome): ``body.release()`` sends the rest, and once ``thread`` is
    joined ``outcome`` holds the 'response' (or the 'error').
    """
    body = PausedUpload(path)
    outcome = {}

    def send():
        try:
            outcome["response"] = requests.post(
                f"{client.gateway_url}/upload", data=body, timeout=120,
                headers={**client.headers, "Content-Type": body.content_type},
            )
        except requests.RequestException as error:
            outcome["error"] = error

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    assert body.paused.wait(30), "the upload did not start"
    # The gateway spools an upload's file part to UPLOAD_DIR as it reads it (gateway/spooling.py):
    # once that file exists, a worker thread is in the middle of this request.
    deadline = time.monotonic() + 30
    while not any(upload_dir.glob("upload-*")):
        assert time.monotonic() < deadline, "the gateway did not start reading the upload"
        time.sleep(0.05)
    return body, thread, outcome


def job_count(mongo_client, email):
    """Jobs of the user with this email. Not by owner id: user ids start at 1 again in each test
    session's MySQL database, while every session shares the jobs collection."""
    return mongo_client["jobs"]["jobs"].count_documents({"email": email})


def mp3_blob_count(mongo_client, job_id):
    return mongo_client["mp3s"]["fs.files"].count_documents({"metadata.job_id": job_id})


def message_ids(mail, address):
    """The Message-IDs of the emails sent to ``address``: one per job, `<job-ID@mp3-converter>`."""
    return [message["Message-ID"] for message in mail.messages_to(address)]


def ready_messages(amqp_url, queue):
    """How many messages wait in ``queue`` (not counting those a consumer holds unacked)."""
    connection = broker.connect(amqp_url)
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def publish_video_message(amqp_url, body):
    """Publish a `video` message with pika directly, as an operator replaying one would."""
    publisher = broker.Publisher(amqp_url, max_deliveries=3)
    try:
        publisher.publish(messages.VIDEO_QUEUE, body)
    finally:
        publisher.close()


def wait_for_log(service, text, count=1, timeout=60):
    """Wait until ``text`` appears ``count`` times in the service's log."""
    deadline = time.monotonic() + timeout
    while service.log_path.read_text(errors="replace").count(text) < count:
        assert time.monotonic() < deadline, f"{text!r} not logged {count}x by {service.name}:\n{service.log_tail()}"
        time.sleep(0.2)


def make_raw_audio_video(path, seconds=600):
    """A video that is quick to make, large for its length and slow to convert per second: a
    16x16 picture at 1 frame/s and uncompressed 8 kHz audio (16 KB/s), which ffmpeg must
    resample and encode in full."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"color=c=black:size=16x16:rate=1:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=8000:duration={seconds}",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", "-shortest", str(path)],
        check=True,
    )
    return path


# How much faster than the recording plays the paced ffmpeg reads it: a 10-minute file then takes
# a minute to convert on any machine, fast or slow, and reports progress within seconds.
PACED_READ_RATE = 10


@pytest.fixture(scope="module")
def paced_ffmpeg_path(tmp_path_factory):
    """A PATH whose `ffmpeg` reads its input no faster than PACED_READ_RATE times real time.

    A test that must act while a conversion is in flight (kill or stop the converter in the
    middle of it) runs the converter with this PATH: the conversion then lasts as long on a fast
    machine as on a slow one, and the test waits on what it observes, not on a guess of how
    long ffmpeg takes. Only the pace changes: the converter's command line is the real one.
    """
    real_ffmpeg = shutil.which("ffmpeg")
    directory = tmp_path_factory.mktemp("paced-ffmpeg")
    wrapper = directory / "ffmpeg"
    # -readrate is an input option: placed first, it applies to the converter's one input.
    wrapper.write_text(f'#!/bin/sh\nexec {real_ffmpeg} -readrate {PACED_READ_RATE} "$@"\n')
    wrapper.chmod(0o755)
    return f"{directory}{os.pathsep}{os.environ['PATH']}"


def queue_lengths(amqp_url):
    """Messages in each queue of the URL's vhost, waiting or held unacked by a consumer."""
    vhost = amqp_url.rsplit("/", 1)[1]
    output = run_stack("rabbitmqctl", "list_queues", "-p", vhost, "name", "messages",
                       "--quiet", "--no-table-headers").stdout
    return {name: int(count) for name, count in (line.split() for line in output.splitlines() if line.strip())}


def wait_until_idle(amqp_url, timeout=60):
    """Wait until the `video` and `mp3` queues hold no message: every delivery has been acked."""
    deadline = time.monotonic() + timeout
    while True:
        lengths = queue_lengths(amqp_url)
        if lengths.get(messages.VIDEO_QUEUE, 0) == 0 and lengths.get(messages.MP3_QUEUE, 0) == 0:
            return
        assert time.monotonic() < deadline, f"queues not drained within {timeout}s: {lengths}"
        time.sleep(0.5)
