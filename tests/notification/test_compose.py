"""What the email says, built without sending it."""
import email
import email.policy

import pytest

from mp3common.links import signature
from notification.worker import NotificationWorker

NOW = 1_700_000_000
SECRET = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def worker():
    return NotificationWorker(
        jobs=None, mailer=None, mail_from="MP3 Converter <noreply@localhost>",
        public_base_url="https://mp3.example.com", link_secret=SECRET, link_ttl_seconds=3600,
        clock=lambda: NOW,
    )


def job(**changes):
    """A finished job, as the notification service reads it from the jobs collection."""
    return {
        "_id": "0123456789abcdef0123456789abcdef", "correlation_id": "c-1", "state": "done",
        "mp3_fid": "65a1b2c3d4e5f60718293a4b", "owner_id": 7, "email": "ana@example.com", "filename": "talk.mp4",
        "error": None, **changes,
    }


def sent_form(message):
    """The message as a mail client would parse it after the trip through SMTP."""
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)


def test_a_success_email_has_the_link_and_the_fid(worker):
    message = sent_form(worker.compose(job()))

    assert message["To"] == "ana@example.com"
    assert message["From"] == "MP3 Converter <noreply@localhost>"
    assert message["Subject"] == "Your MP3 is ready: talk.mp3"
    assert message["Message-ID"] == "<job-0123456789abcdef0123456789abcdef@mp3-converter>"
    text = message.get_body(("plain",)).get_content()
    assert "\nfid: 65a1b2c3d4e5f60718293a4b\n" in text
    expected_signature = signature(SECRET, "65a1b2c3d4e5f60718293a4b", NOW + 3600)
    assert (f"\nhttps://mp3.example.com/download?fid=65a1b2c3d4e5f60718293a4b&expires={NOW + 3600}"
            f"&signature={expected_signature}\n") in text
    assert "until 2023-11-14 23:13 UTC" in text


def test_a_failure_email_names_the_upload_and_gives_the_reason(worker):
    message = sent_form(worker.compose(
        job(state="failed", mp3_fid=None, error="The file has no audio track to convert.", filename="holiday.mp4"),
    ))

    assert message["Subject"] == "We could not convert holiday.mp4"
    text = message.get_body(("plain",)).get_content()
    assert "The file has no audio track to convert." in text
    assert "fid:" not in text and "/download" not in text


def test_unicode_names_survive_the_subject(worker):
    message = sent_form(worker.compose(job(filename="vidéo d'été 😀.mkv")))

    assert message["Subject"] == "Your MP3 is ready: vidéo d'été 😀.mp3"


def test_a_name_with_line_breaks_cannot_add_headers(worker):
    message = sent_form(worker.compose(
        job(state="failed", mp3_fid=None, error="No audio.", filename="x.mp4\r\nBcc: victim@example.com"),
    ))

    assert message["Bcc"] is None
    assert message["Subject"] == "We could not convert x.mp4  Bcc: victim@example.com"
