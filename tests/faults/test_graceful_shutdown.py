"""Services told to stop (SIGTERM, as docker and Kubernetes do) lose nothing: the converter puts
the conversion in hand back on the queue, and gunicorn finishes the upload it is receiving."""
import os
import signal
import time

import pytest

from tests.conftest import wait_until_sources_deleted
from tests.faults.conftest import (
    make_raw_audio_video,
    mp3_blob_count,
    restarted_with,
    send_paused_upload,
    wait_for_log,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    return make_raw_audio_video(tmp_path_factory.mktemp("videos") / "seminar.mov")


def test_a_converter_stopped_mid_conversion_requeues_it_and_exits_0(
    system, client, long_video, mail, mongo_client, paced_ffmpeg_path
):
    converter = system["converter"]
    # Paced, the conversion lasts a minute whatever the machine: it is still in flight when
    # the converter is told to stop. The converter started again at the end runs at full speed.
    with restarted_with(converter, PATH=paced_ffmpeg_path):
        response = client.upload(long_video)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        client.wait_for_job(job_id, lambda job: job["state"] == "converting" and job["progress"] > 0, timeout=90)

        started = time.monotonic()
        assert converter.stop(timeout=30) == 0
        assert time.monotonic() - started < 10, "ffmpeg is stopped, not waited for"
        assert "requeueing" in converter.log_tail(200)
        assert client.job(job_id)["state"] == "converting", "an interrupted job is not a failed one"

    # The one delivery given back counts once against the queue's delivery limit, not more.
    wait_for_log(converter, f"converting job {job_id} (attempt 2)")
    assert client.wait_until_finished(job_id, timeout=120)["state"] == "done"
    [email] = mail.wait_for(client.email, timeout=60)
    assert email["Message-ID"] == f"<job-{job_id}@mp3-converter>"
    assert mp3_blob_count(mongo_client, job_id) == 1
    wait_until_sources_deleted(mongo_client, job_id)


def test_a_gateway_stopped_during_an_upload_finishes_that_upload_first(system, client, mail, tmp_path, upload_dir):
    gateway = system["gateway"]
    video = make_raw_audio_video(tmp_path / "interview.mov", seconds=30)
    body, sender, outcome = send_paused_upload(client, video, upload_dir)
    try:
        os.killpg(gateway.process.pid, signal.SIGTERM)
        wait_for_log(gateway, "Handling signal: term", timeout=10)

        body.release()
        sender.join(60)

        response = outcome.get("response")
        assert response is not None, outcome
        assert response.status_code == 202, response.text
        assert gateway.process.wait(40) == 0
    finally:
        body.release()
        gateway.kill()
        gateway.start()
    job_id = response.json()["job_id"]
    assert client.wait_until_finished(job_id)["state"] == "done"
    [email] = mail.wait_for(client.email, timeout=60)
    assert email["Message-ID"] == f"<job-{job_id}@mp3-converter>"
