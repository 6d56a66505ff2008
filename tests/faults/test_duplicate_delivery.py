"""The same `video` message delivered more than once, as at-least-once delivery allows (a replay
by an operator, a redelivery after a lost ack): one MP3 and one email per job, whatever happens."""
import threading

import pytest
from bson import ObjectId

from mp3common import jobs, messages
from tests.conftest import PYTHON, ServiceProcess, free_port, make_video, wait_until_sources_deleted
from tests.faults.conftest import (
    mp3_blob_count,
    publish_video_message,
    ready_messages,
    wait_for_log,
    wait_until_idle,
)

pytestmark = pytest.mark.timeout(180)


def video_message(mongo_client, job_id):
    """The `video` message the gateway published for the job, rebuilt from the stored job."""
    job = mongo_client["jobs"]["jobs"].find_one({"_id": job_id})
    return messages.job_message(job["_id"], job["correlation_id"])


@pytest.fixture
def second_converter(system, tmp_path):
    """Another converter on the same queue, as a scaled-out deployment runs them."""
    port = free_port()
    service = ServiceProcess(
        name="converter-2", argv=[PYTHON, "-m", "converter"], env={**system.env, "HEALTH_PORT": str(port)},
        health_url=f"http://127.0.0.1:{port}/healthz", log_path=tmp_path / "converter-2.log",
    )
    yield service
    service.stop()


def test_a_message_replayed_after_its_job_is_done_changes_nothing(
    system, client, mail, mongo_client, amqp_url, tmp_path
):
    response = client.upload(make_video(tmp_path / "lecture.mp4", seconds=2))
    job_id = response.json()["job_id"]
    mp3_fid = client.wait_until_finished(job_id)["mp3_fid"]
    mail.wait_for(client.email, timeout=60)
    replay = video_message(mongo_client, job_id)

    publish_video_message(amqp_url, replay)

    wait_for_log(system["converter"], f"job {job_id} is already done")
    wait_for_log(system["notification"], f"job {job_id} already notified")
    wait_until_idle(amqp_url)
    assert client.job(job_id)["mp3_fid"] == mp3_fid
    assert mp3_blob_count(mongo_client, job_id) == 1
    assert len(mail.messages_to(client.email)) == 1


def test_two_copies_taken_by_two_converters_at_once_make_one_mp3_and_one_email(
    system, client, mail, mongo_client, amqp_url, tmp_path, second_converter
):
    converter = system["converter"]
    converter.stop()
    try:
        response = client.upload(make_video(tmp_path / "concert.mp4", seconds=20))
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        publish_video_message(amqp_url, video_message(mongo_client, job_id))
        assert ready_messages(amqp_url, messages.VIDEO_QUEUE) == 2
    finally:
        converter.start()
    second_converter.start()

    assert client.wait_until_finished(job_id)["state"] == "done"
    [email] = mail.wait_for(client.email, timeout=60)
    wait_until_idle(amqp_url)
    assert email["Message-ID"] == f"<job-{job_id}@mp3-converter>"
    assert len(mail.messages_to(client.email)) == 1
    assert mp3_blob_count(mongo_client, job_id) == 1
    wait_until_sources_deleted(mongo_client, job_id)
    assert client.job(job_id)["state"] == "done"


def test_deliveries_recording_their_mp3s_at_the_same_instant_all_keep_the_same_one(mongo_client):
    job_store = jobs.Jobs(mongo_client)
    job_id = jobs.new_job_id()
    job_store.create(job_id=job_id, owner_id=7, email="race@example.com", filename="race.mp4", preset=None,
                     video_fid=str(ObjectId()), correlation_id="race")
    deliveries = 8
    start = threading.Barrier(deliveries)
    kept = []

    def record(mp3_fid):
        start.wait()
        kept.append(job_store.record_mp3(job_id, mp3_fid)["mp3_fid"])

    threads = [threading.Thread(target=record, args=(str(ObjectId()),)) for _ in range(deliveries)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert len(kept) == deliveries
        assert len(set(kept)) == 1, "every delivery but one deletes its MP3"
        assert job_store.get(job_id)["mp3_fid"] == kept[0]
    finally:
        job_store.delete(job_id)
