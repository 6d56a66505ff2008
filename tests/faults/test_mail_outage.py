"""The mail server is down when a conversion finishes: the notification service waits it out and
sends the email once it is back, exactly once."""
import pytest

from tests.conftest import make_video
from tests.faults.conftest import server_stopped, wait_for_log, wait_until_idle

pytestmark = pytest.mark.timeout(180)


def test_an_email_due_while_the_mail_server_is_down_is_sent_once_when_it_is_back(
    system, client, mail, mongo_client, amqp_url, tmp_path
):
    video = make_video(tmp_path / "podcast.mp4", seconds=2)

    with server_stopped("smtp"):
        response = client.upload(video)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        assert client.wait_until_finished(job_id)["state"] == "done"
        wait_for_log(system["notification"], "mail server unavailable", timeout=30)
        assert mail.messages_to(client.email) == []

    [email] = mail.wait_for(client.email, timeout=60)
    assert email["Message-ID"] == f"<job-{job_id}@mp3-converter>"
    wait_until_idle(amqp_url)
    assert len(mail.messages_to(client.email)) == 1
    assert mongo_client["jobs"]["jobs"].find_one({"_id": job_id})["steps"]["notified"]
