"""RabbitMQ restarts while twenty uploads are on their way. Uploads that reach the gateway while
the broker is down get a 503 and nothing is kept; the client sends them again with the same
Idempotency-Key. Every video is converted once and announced by one email."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import make_video
from tests.faults.conftest import job_count, message_ids, mp3_blob_count, server_stopped, wait_until_idle

pytestmark = pytest.mark.timeout(300)

UPLOADS = 20
# The uploads start this far apart, so that some are accepted before the broker stops, some
# arrive while it is down and some after it is back.
UPLOAD_SPACING_SECONDS = 0.4


def test_twenty_uploads_through_a_broker_restart_are_each_converted_and_emailed_once(
    system, client, mail, mongo_client, amqp_url, tmp_path
):
    video = make_video(tmp_path / "clip.mp4", seconds=1)

    def upload(index):
        time.sleep(index * UPLOAD_SPACING_SECONDS)
        return client.upload_until_accepted(video, deadline_seconds=180)

    with ThreadPoolExecutor(UPLOADS) as pool:
        accepted = [pool.submit(upload, index) for index in range(UPLOADS)]
        time.sleep(1)
        with server_stopped("rabbitmq"):
            time.sleep(2)
        job_ids = [future.result() for future in accepted]

    assert len(set(job_ids)) == UPLOADS
    finished = client.wait_until_all_finished(job_ids, timeout=150)
    assert [job["state"] for job in finished] == ["done"] * UPLOADS
    mail.wait_for(client.email, count=UPLOADS, timeout=120)
    wait_until_idle(amqp_url, timeout=60)
    assert sorted(message_ids(mail, client.email)) == sorted(f"<job-{job_id}@mp3-converter>" for job_id in job_ids)
    assert [mp3_blob_count(mongo_client, job_id) for job_id in job_ids] == [1] * UPLOADS
    # The tries refused during the outage left no job behind.
    assert job_count(mongo_client, client.email) == UPLOADS
    assert "503" in system["gateway"].log_tail(2000), "some uploads met the outage"
