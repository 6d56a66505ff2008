"""A converter killed in the middle of a conversion, as a crash or the OOM killer would: the broker
hands the unacked message to the next converter, which finishes the job exactly once."""
import pytest

from tests.conftest import wait_until_sources_deleted
from tests.faults.conftest import (
    make_raw_audio_video,
    mp3_blob_count,
    restarted_with,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    return make_raw_audio_video(tmp_path_factory.mktemp("videos") / "lecture.mov")


def test_a_converter_killed_mid_conversion_is_restarted_and_the_job_finishes_once(
    system, client, long_video, mail, mongo_client, work_dir, paced_ffmpeg_path
):
    # Paced, the conversion lasts a minute whatever the machine: it is still in flight when
    # the converter is killed. The converter started again at the end converts at full speed.
    with restarted_with(system["converter"], PATH=paced_ffmpeg_path):
        response = client.upload(long_video)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        client.wait_for_job(job_id, lambda job: job["state"] == "converting" and job["progress"] > 0, timeout=90)

        system["converter"].kill()

    job = client.wait_until_finished(job_id, timeout=120)
    assert job["state"] == "done", job
    [email] = mail.wait_for(client.email, timeout=60)
    assert email["Message-ID"] == f"<job-{job_id}@mp3-converter>"
    assert mp3_blob_count(mongo_client, job_id) == 1
    wait_until_sources_deleted(mongo_client, job_id)
    # The killed converter's half-written files went with its scratch directory at the restart.
    scratch_dirs = [path for path in work_dir.iterdir() if path.is_dir()]
    assert len(scratch_dirs) == 1
    assert [path.name for path in scratch_dirs[0].iterdir()] == [".lock"]
    assert "left by a converter that did not exit cleanly" in system["converter"].log_tail(200)
