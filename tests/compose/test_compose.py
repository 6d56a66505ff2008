"""`docker compose up`, as a self-hoster runs it: every service healthy, the README's flow through
the published gateway port, a converter killed in the middle of a conversion, a restart of the
whole stack, and `down -v`. Run by tests/compose/run.sh (`make compose-test`), which provides the
Docker daemon, the compose plugin and the stand-in images; `make test` does not collect it."""
import json
import os
import re
import signal
import subprocess
import time
import uuid

import pymongo
import pytest
import requests

from harness.stack import REPO
from tests.conftest import make_video, media_duration
from tests.faults.conftest import make_raw_audio_video

pytestmark = pytest.mark.timeout(900)

PROJECT = "mp3-compose-test"
# With the observability profile: Prometheus too, scraping everything else.
COMPOSE = ["docker", "compose", "--project-name", PROJECT, "--profile", "observability", "-f", "docker-compose.yml",
           "-f", "tests/compose/docker-compose.standins.yml"]
GATEWAY = "http://127.0.0.1:8080"
MAILPIT = "http://127.0.0.1:8025"
PROMETHEUS = "http://127.0.0.1:9090"
DASHBOARD = REPO / "deploy" / "grafana" / "mp3-converter.json"
SCRAPED_JOBS = {"gateway", "auth", "converter", "notification", "rabbitmq"}
# Prometheus scrapes every 15 s, and a rate() needs two scrapes after the change.
PROMETHEUS_WAIT_SECONDS = 120
# Published by the override only, so the test can count blobs.
MONGO = "mongodb://127.0.0.1:27117/"
PASSWORD = "correct horse battery"
FID_LINE = re.compile(r"^fid: ([0-9a-f]{24})\r?$", re.MULTILINE)
LINK = re.compile(r"(http://\S+/download\?\S+)")


def compose(*args, check=True, timeout=900):
    return subprocess.run([*COMPOSE, *args], cwd=REPO, check=check, capture_output=True, text=True, timeout=timeout)


def containers():
    """Every container of the project, running or not, as `docker compose ps` describes it."""
    output = compose("ps", "--all", "--format", "json").stdout
    # One JSON object per line (compose v2.21 and later).
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def container_state(service):
    [container] = [c for c in containers() if c["Service"] == service]
    inspected = json.loads(subprocess.run(["docker", "inspect", container["ID"]], check=True, capture_output=True,
                                          text=True).stdout)[0]
    return inspected["State"], inspected["RestartCount"]


@pytest.fixture(scope="module")
def stack():
    """The stack up and healthy (`up --build --wait`); `down -v` afterwards, whatever happened."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
        pytest.fail("no Docker daemon or compose plugin: run `make compose-test`, which provides both")
    compose("down", "--volumes", "--remove-orphans", check=False)
    started = time.monotonic()
    up = compose("up", "--build", "--wait", "--wait-timeout", "300", check=False)
    assert up.returncode == 0, f"{up.stdout}\n{up.stderr}\n{compose('logs', '--tail', '50', check=False).stdout}"
    print(f"up --build --wait took {time.monotonic() - started:.0f} s")
    yield
    compose("down", "--volumes", "--remove-orphans", check=False)


class User:
    """A user of the published API, as the README's curl lines are."""

    def __init__(self):
        self.email = f"compose-{uuid.uuid4().hex[:10]}@example.com"
        registered = requests.post(f"{GATEWAY}/register", json={"email": self.email, "password": PASSWORD}, timeout=30)
        assert registered.status_code == 201, registered.text
        self.log_in()

    def log_in(self):
        login = requests.post(f"{GATEWAY}/login", auth=(self.email, PASSWORD), timeout=30)
        assert login.status_code == 200, login.text
        self.headers = {"Authorization": f"Bearer {login.text.strip()}"}

    def upload(self, path):
        with open(path, "rb") as video:
            response = requests.post(f"{GATEWAY}/upload", headers=self.headers, files={"file": (path.name, video)},
                                     timeout=120)
        assert response.status_code == 202, response.text
        return response.json()["job_id"]

    def job(self, job_id):
        response = requests.get(f"{GATEWAY}/jobs/{job_id}", headers=self.headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_job(self, job_id, condition, timeout=180):
        deadline = time.monotonic() + timeout
        while not condition(job := self.job(job_id)):
            assert time.monotonic() < deadline, f"job {job_id} never got there: {job}"
            time.sleep(0.5)
        return job


def emails_to(address):
    """The messages Mailpit holds for ``address``, each with its plain-text body."""
    found = requests.get(f"{MAILPIT}/api/v1/search", params={"query": f'to:"{address}"'}, timeout=10)
    found.raise_for_status()
    return [requests.get(f"{MAILPIT}/api/v1/message/{summary['ID']}", timeout=10).json()
            for summary in found.json()["messages"]]


def wait_for_emails(address, count=1, timeout=120):
    deadline = time.monotonic() + timeout
    while len(messages := emails_to(address)) < count:
        assert time.monotonic() < deadline, f"{count} email(s) to {address} expected, got {len(messages)}"
        time.sleep(0.5)
    return messages


def mp3_blobs(job_id):
    with pymongo.MongoClient(MONGO, serverSelectionTimeoutMS=10000) as client:
        return client["mp3s"]["fs.files"].count_documents({"metadata.job_id": job_id})


def assert_is_mp3_of(path, seconds):
    duration, codec = media_duration(path)
    assert codec == "mp3"
    assert duration == pytest.approx(seconds, abs=0.3)


@pytest.fixture(scope="module")
def user(stack):
    return User()


@pytest.fixture(scope="module")
def finished_job(user, tmp_path_factory):
    """The README's flow: an upload through the published port, converted and emailed."""
    video = make_video(tmp_path_factory.mktemp("compose") / "talk.mp4", seconds=3)
    job_id = user.upload(video)
    job = user.wait_for_job(job_id, lambda job: job["state"] in ("done", "failed"))
    return job


def test_every_service_is_up_and_healthy_and_the_secrets_were_written_once(stack):
    by_service = {container["Service"]: container for container in containers()}

    assert set(by_service) == {"mongo", "rabbitmq", "mysql", "mailpit", "secrets", "auth", "gateway", "converter",
                               "notification", "prometheus"}
    for service, container in by_service.items():
        if service == "secrets":
            assert (container["State"], container["ExitCode"]) == ("exited", 0)
        else:
            assert (container["State"], container["Health"]) == ("running", "healthy"), container


def test_the_readme_flow_gives_an_email_with_a_link_and_an_mp3_downloaded_both_ways(user, finished_job, tmp_path):
    assert finished_job["state"] == "done", finished_job
    [email] = wait_for_emails(user.email)
    assert email["Subject"] == "Your MP3 is ready: talk.mp3"
    fid = FID_LINE.search(email["Text"]).group(1)
    assert fid == finished_job["mp3_fid"]
    # The link names PUBLIC_BASE_URL (http://localhost:8080), the published port.
    link = LINK.search(email["Text"]).group(1).replace("http://localhost:8080", GATEWAY)

    with_token = requests.get(f"{GATEWAY}/download", params={"fid": fid}, headers=user.headers, timeout=60)
    with_link = requests.get(link, timeout=60)

    for name, response in (("token", with_token), ("link", with_link)):
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == "audio/mpeg"
        (tmp_path / f"{name}.mp3").write_bytes(response.content)
        assert_is_mp3_of(tmp_path / f"{name}.mp3", 3)


def prometheus_query(expr):
    """The result vector of an instant query; fails on an expression Prometheus refuses."""
    response = requests.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=30)
    assert response.status_code == 200, (expr, response.text)
    body = response.json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def wait_for_query(expr, condition=bool):
    """Query until ``condition(result)`` holds; return the result."""
    deadline = time.monotonic() + PROMETHEUS_WAIT_SECONDS
    while not condition(result := prometheus_query(expr)):
        assert time.monotonic() < deadline, f"{expr} never gave what was expected: {result}"
        time.sleep(2)
    return result


def counted(result):
    """Whether a one-sample result is there and above zero."""
    return bool(result) and float(result[0]["value"][1]) > 0


def test_prometheus_scrapes_every_service_and_rabbitmq_and_every_target_is_up(stack):
    deadline = time.monotonic() + PROMETHEUS_WAIT_SECONDS
    while True:
        targets = requests.get(f"{PROMETHEUS}/api/v1/targets", timeout=30).json()["data"]["activeTargets"]
        health = {target["labels"]["job"]: target["health"] for target in targets}
        if set(health.values()) == {"up"} or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert health == {job: "up" for job in SCRAPED_JOBS}, targets


def test_prometheus_counts_the_tests_upload_and_every_dashboard_query_returns_data(user, finished_job):
    assert finished_job["state"] == "done", finished_job
    # One refusal, so that the panel of refused uploads has something to show.
    refused = requests.post(f"{GATEWAY}/upload", headers=user.headers, files={"file": ("empty.mp4", b"")}, timeout=30)
    assert refused.status_code == 422

    # The README flow's upload, the only one accepted so far.
    [uploads] = wait_for_query("sum(mp3_uploads_accepted_total)", counted)
    assert float(uploads["value"][1]) == 1
    wait_for_query('sum(mp3_uploads_refused_total{reason="empty_file"})', counted)
    # Queue depth from RabbitMQ's own plugin, per queue.
    queues = {sample["metric"]["queue"] for sample in wait_for_query("rabbitmq_queue_messages")}
    assert {"video", "mp3", "video.dead", "mp3.dead"} <= queues

    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert wait_for_query(target["expr"]), (panel["title"], target["expr"])


def test_a_converter_killed_mid_conversion_is_restarted_and_the_job_finishes_once(stack, tmp_path):
    user = User()
    # Ten minutes of audio, which the paced ffmpeg of the override converts in about 20 s.
    job_id = user.upload(make_raw_audio_video(tmp_path / "lecture.mov", seconds=600))
    user.wait_for_job(job_id, lambda job: job["state"] == "converting" and job["progress"] > 0)
    state, restarts_before = container_state("converter")

    # SIGKILL to the container's process from outside, as a crash or the OOM killer ends it.
    # Not `docker kill`: docker counts that as a stop asked for, which `unless-stopped` honours.
    os.kill(state["Pid"], signal.SIGKILL)

    # The restart policy brings it back; the broker hands it the unacked message again.
    deadline = time.monotonic() + 120
    while not ((state := container_state("converter"))[1] > restarts_before and state[0]["Running"]):
        assert time.monotonic() < deadline, f"the converter was not restarted: {state}"
        time.sleep(0.5)
    job = user.wait_for_job(job_id, lambda job: job["state"] in ("done", "failed"), timeout=300)
    assert job["state"] == "done", job
    [email] = wait_for_emails(user.email)
    assert email["Subject"] == "Your MP3 is ready: lecture.mp3"
    assert mp3_blobs(job_id) == 1


def test_a_restart_of_the_whole_stack_keeps_users_jobs_and_files(stack, user, finished_job, tmp_path):
    compose("restart")
    waited = compose("up", "--wait", "--wait-timeout", "300", check=False)
    assert waited.returncode == 0, waited.stderr

    user.log_in()  # the account is in the MySQL volume
    job = user.job(finished_job["id"])  # the job is in the MongoDB volume
    assert (job["state"], job["mp3_fid"]) == ("done", finished_job["mp3_fid"])
    download = requests.get(f"{GATEWAY}/download", params={"fid": job["mp3_fid"]}, headers=user.headers, timeout=60)
    assert download.status_code == 200, download.text
    (tmp_path / "after-restart.mp3").write_bytes(download.content)
    assert_is_mp3_of(tmp_path / "after-restart.mp3", 3)


def test_down_with_volumes_leaves_nothing_behind(stack):
    compose("down", "--volumes", "--remove-orphans")

    assert containers() == []
    volumes = subprocess.run(
        ["docker", "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={PROJECT}"],
        check=True, capture_output=True, text=True,
    ).stdout
    assert volumes.strip() == ""
