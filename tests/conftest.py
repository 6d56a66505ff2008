"""Fixtures every test can use: the real servers of the local stack (`make stack-start`), an
isolated RabbitMQ vhost, fresh databases and keys, and the services started as real processes.

Nothing here fakes a server. The vhost and database names are unique per test session so that
two test runs on one machine never consume each other's messages.
"""
import mailbox
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from auth import keygen
from harness.processes import ServiceProcess  # noqa: F401 - re-exported for the tests
from harness.stack import (  # noqa: F401 - re-exported for the tests
    REPO,
    STACK_SCRIPT,
    Stack,
    free_port,
    fresh_auth_database,
    fresh_vhost,
    port_is_open,
    run_stack,
)
from harness.system import (  # noqa: F401 - PYTHON, BIN and service_argv re-exported for the tests
    BIN,
    PYTHON,
    SERVICES,
    service_argv,
    service_environment,
    service_process,
)
from mp3common import storage


@pytest.fixture(scope="session")
def stack():
    servers = Stack.from_env()
    for name, port in [("RabbitMQ", servers.rabbitmq_port), ("MariaDB", servers.mysql_port),
                       ("MongoDB/FerretDB", servers.mongo_port), ("SMTP", servers.smtp_port)]:
        if not port_is_open(port):
            pytest.fail(f"{name} is not listening on 127.0.0.1:{port}; run `make stack-start` first")
    return servers


@pytest.fixture(scope="session")
def amqp_url(stack):
    """A RabbitMQ vhost of this test session's own, deleted afterwards."""
    with fresh_vhost(stack, "test") as url:
        yield url


@pytest.fixture(scope="session")
def mongo_uri(stack):
    return stack.mongo_uri


def stored_fids(mongo_client, database, **metadata):
    """The fids of the blobs in GridFS ``database`` whose metadata has these values."""
    query = {f"metadata.{key}": value for key, value in metadata.items()}
    return [str(stored["_id"]) for stored in mongo_client[database]["fs.files"].find(query, {"_id": 1})]


def blob_exists(bucket, fid):
    """Whether the storage.Bucket ``bucket`` still holds ``fid``."""
    try:
        bucket.open(fid).close()
    except storage.FileNotFound:
        return False
    return True


def wait_until_sources_deleted(mongo_client, *job_ids, timeout=60):
    """Wait until no source video of these jobs is stored. The converter deletes a finished job's
    video on a thread of its own, after the announcement, so the email may come first."""
    deadline = time.monotonic() + timeout
    query = {"metadata.job_id": {"$in": list(job_ids)}}
    while (left := mongo_client[storage.VIDEOS_DB]["fs.files"].count_documents(query)) > 0:
        assert time.monotonic() < deadline, f"{left} source videos of {job_ids} still stored after {timeout} s"
        time.sleep(0.1)


@pytest.fixture(scope="session")
def mongo_client(mongo_uri):
    client = storage.connect(mongo_uri)
    yield client
    client.close()


@pytest.fixture(scope="session")
def mysql_database(stack):
    """A fresh database with the auth schema from mysql-init/, dropped afterwards."""
    with fresh_auth_database(stack, "auth_test") as name:
        yield name


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory):
    """A JWT signing key and a download-link secret made for this session, as `make secrets` makes them."""
    directory = tmp_path_factory.mktemp("secrets")
    keygen.write_missing(directory)
    return directory


class Mailbox:
    """The stack's SMTP listener writes each message into a Maildir; this reads it back."""

    def __init__(self, path):
        self.path = Path(path)

    def messages_to(self, address):
        if not (self.path / "new").exists():
            return []
        box = mailbox.Maildir(self.path, create=False)
        return [message for message in box if address.lower() in (message.get("To") or "").lower()]

    def wait_for(self, address, count=1, timeout=60):
        """Wait until ``count`` messages reached ``address``; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages_to(address)
            if len(found) >= count:
                return found
            time.sleep(0.2)
        raise AssertionError(f"{count} email(s) to {address} expected within {timeout}s, "
                             f"got {len(self.messages_to(address))}")


@pytest.fixture(scope="session")
def mail(stack):
    return Mailbox(stack.mail_dir)


@dataclass
class System:
    """The four services, started as `make run` starts them, on free loopback ports."""

    env: dict
    gateway_url: str
    auth_url: str
    services: dict

    def __getitem__(self, name):
        return self.services[name]


def start_system(tmp_path_factory, stack, amqp_url, mongo_uri, mysql_database, secrets_dir, **overrides):
    """The four services, started and healthy; killed again if one of them does not come up."""
    logs = tmp_path_factory.mktemp("service-logs")
    ports = {name: free_port() for name in SERVICES}
    env = service_environment(amqp_url=amqp_url, mongo_uri=mongo_uri, mysql_port=stack.mysql_port,
                              mysql_database=mysql_database, secrets_dir=secrets_dir, smtp_port=stack.smtp_port,
                              ports=ports, **overrides)
    services = {name: service_process(name, port, env, logs) for name, port in ports.items()}
    try:
        for service in services.values():
            service.start()
    except BaseException:
        for service in services.values():
            service.kill()
        raise
    return System(env=env, gateway_url=f"http://127.0.0.1:{ports['gateway']}", auth_url=env["AUTH_URL"],
                  services=services)


@pytest.fixture(scope="session")
def system(tmp_path_factory, stack, amqp_url, mongo_uri, mysql_database, secrets_dir):
    """The whole pipeline running as real processes for the session."""
    running = start_system(tmp_path_factory, stack, amqp_url, mongo_uri, mysql_database, secrets_dir)
    yield running
    for service in running.services.values():
        service.stop()


def make_video(path, seconds=3, video_codec="libx264", audio_codec="aac", audio=True, size="320x240"):
    """Generate a test video with ffmpeg: a test pattern and noisy, music-like audio."""
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y",
               "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration={seconds}"]
    if audio:
        command += ["-f", "lavfi", "-i",
                    f"aevalsrc='0.3*sin(440*2*PI*t)*sin(3*PI*t)+0.1*(random(0)-0.5)':s=44100:d={seconds}:c=stereo"]
    command += ["-c:v", video_codec, "-pix_fmt", "yuv420p"]
    if video_codec == "libvpx-vp9":
        command += ["-b:v", "200k", "-deadline", "realtime", "-cpu-used", "8"]
    if audio:
        command += ["-c:a", audio_codec]
    command += ["-shortest", str(path)]
    subprocess.run(command, check=True)
    return path


def media_duration(path):
    output = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
         "-of", "default=noprint_wrappers=1", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    fields = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return float(fields["duration"]), fields.get("codec_name")
