"""Files that are not what they claim: each is refused at upload with a 4xx JSON error, or becomes
a failed job with exactly one email saying why. None of them blocks the queue for the next user."""
import os

import pytest

from tests.conftest import make_video, wait_until_sources_deleted
from tests.faults.conftest import job_count, mp3_blob_count, wait_until_idle

pytestmark = pytest.mark.timeout(180)


def corrupted_in_the_middle(good, path):
    """A real MP4 whose middle half is overwritten with random bytes; its index is intact."""
    content = bytearray(good.read_bytes())
    quarter = len(content) // 4
    content[quarter:3 * quarter] = os.urandom(2 * quarter)
    path.write_bytes(content)
    return path


def cut_in_half(good, path):
    """A real MP4 cut off half-way, as an interrupted copy leaves it: the index at its end is gone."""
    content = good.read_bytes()
    path.write_bytes(content[:len(content) // 2])
    return path


def empty(good, path):
    path.write_bytes(b"")
    return path


def text_named_mp4(good, path):
    path.write_text("Dear diary, today I renamed a text file.\n")
    return path


def without_audio(good, path):
    return make_video(path, seconds=2, audio=False)


@pytest.fixture(scope="module")
def good_video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("videos") / "good.mp4", seconds=10)


@pytest.mark.parametrize(
    "make_file, code",
    [
        (cut_in_half, "unsupported_media"),
        (empty, "empty_file"),
        (text_named_mp4, "unsupported_media"),
        (without_audio, "unsupported_media"),
    ],
)
def test_a_file_that_cannot_be_read_as_audio_is_refused_at_upload(
    system, client, good_video, tmp_path, mail, mongo_client, make_file, code
):
    poison = make_file(good_video, tmp_path / "poison.mp4")

    response = client.upload(poison)

    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] == code
    assert job_count(mongo_client, client.email) == 0
    assert mail.messages_to(client.email) == []


def test_a_corrupt_mp4_fails_its_job_with_one_email_and_the_next_upload_converts(
    system, client, good_video, tmp_path, mail, mongo_client, amqp_url
):
    corrupt = corrupted_in_the_middle(good_video, tmp_path / "holiday.mp4")

    poisoned = client.upload(corrupt)
    behind = client.upload(good_video)

    assert poisoned.status_code == 202, "the damage is past what a probe reads: it passes the upload"
    assert behind.status_code == 202, behind.text
    failed = client.wait_until_finished(poisoned.json()["job_id"])
    done = client.wait_until_finished(behind.json()["job_id"])
    assert (failed["state"], failed["error"]) == ("failed", "The audio track could not be decoded.")
    assert done["state"] == "done"
    wait_until_idle(amqp_url)
    emails = {message["Message-ID"]: message for message in mail.wait_for(client.email, count=2)}
    assert len(mail.messages_to(client.email)) == 2
    assert emails[f"<job-{failed['id']}@mp3-converter>"]["Subject"] == "We could not convert holiday.mp4"
    assert emails[f"<job-{done['id']}@mp3-converter>"]["Subject"] == "Your MP3 is ready: good.mp3"
    assert mp3_blob_count(mongo_client, failed["id"]) == 0
    wait_until_sources_deleted(mongo_client, failed["id"])
