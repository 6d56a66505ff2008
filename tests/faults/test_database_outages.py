"""The databases go away and come back: MongoDB (jobs and files) during an upload, MySQL
(accounts) during a login. Clients get a 503 with a JSON error, nothing half-done is left behind,
the readiness probes say what is missing, and every service recovers without a restart."""
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from mp3common import messages
from tests.faults.conftest import (
    PASSWORD,
    job_count,
    make_raw_audio_video,
    ready_messages,
    send_paused_upload,
    server_stopped,
)

pytestmark = pytest.mark.timeout(180)


def readiness(system, names):
    """Each named service's /readyz response, asked at the same time (each may take seconds)."""
    urls = {name: system[name].health_url.rsplit("/", 1)[0] + "/readyz" for name in names}
    with ThreadPoolExecutor(len(urls)) as pool:
        futures = {name: pool.submit(requests.get, url, timeout=30) for name, url in urls.items()}
        return {name: future.result() for name, future in futures.items()}


def test_an_upload_during_a_mongodb_outage_gets_503_and_queues_nothing(
    system, client, mail, mongo_client, amqp_url, tmp_path, upload_dir
):
    # A name of its own, to look for its blob: user ids are not unique across test sessions.
    video = make_raw_audio_video(tmp_path / f"talk-{uuid.uuid4().hex}.mov", seconds=30)
    converter = system["converter"]
    # Stopped, so that a message queued by mistake would wait in the queue to be counted.
    converter.stop()
    try:
        body, sender, outcome = send_paused_upload(client, video, upload_dir)
        with server_stopped("mongo"):
            body.release()
            sender.join(60)
            queued = ready_messages(amqp_url, messages.VIDEO_QUEUE)
            converter.start()
            during = readiness(system, ["gateway", "converter", "notification"])
    finally:
        if converter.process.poll() is not None:
            converter.start()

    response = outcome["response"]
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "database_unavailable"
    assert queued == 0
    assert job_count(mongo_client, client.email) == 0
    assert mongo_client["videos"]["fs.files"].count_documents({"filename": video.name}) == 0
    for name, probe in during.items():
        assert probe.status_code == 503, (name, probe.text)
        assert probe.json()["checks"]["mongodb"] is False, name

    for name in ("gateway", "converter", "notification"):
        system[name].wait_healthy(timeout=60, path="/readyz")
    after = client.upload(video)
    assert after.status_code == 202, after.text
    job_id = after.json()["job_id"]
    assert client.wait_until_finished(job_id)["state"] == "done"
    [email] = mail.wait_for(client.email, timeout=60)
    assert email["Message-ID"] == f"<job-{job_id}@mp3-converter>"


def test_while_mysql_is_down_login_answers_503_and_recovers_on_its_own(system, client):
    auth = system["auth"]
    with server_stopped("mysql"):
        ready = readiness(system, ["auth"])["auth"]
        login = requests.post(f"{system.gateway_url}/login", auth=(client.email, PASSWORD), timeout=30)

    assert ready.status_code == 503, ready.text
    assert ready.json()["error"]["code"] == "database_unavailable"
    assert login.status_code == 503, login.text
    assert login.json()["error"]["code"] == "database_unavailable"

    auth.wait_healthy(timeout=60, path="/readyz")
    login = requests.post(f"{system.gateway_url}/login", auth=(client.email, PASSWORD), timeout=30)
    assert login.status_code == 200, login.text
    jobs = requests.get(f"{system.gateway_url}/jobs", headers={"Authorization": f"Bearer {login.text.strip()}"},
                        timeout=30)
    assert jobs.status_code == 200, jobs.text
