"""NotificationWorker.handle() on the real FerretDB and a real SMTP server (aiosmtpd), read back
from its Maildir."""
import email
import email.policy
import re
import smtplib
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from mp3common import broker, messages
from mp3common.links import signature
from notification.mailer import SmtpMailer
from notification.worker import NotificationWorker
from tests.notification.conftest import LINK_SECRET

FID_LINE = re.compile(r"^fid: ([0-9a-f]{24})$", re.MULTILINE)
LINK = re.compile(r"(http://\S+/download\?\S+)")
TTL_SECONDS = 3600


def delivery(body, attempt=1):
    return broker.Delivery(attempt=attempt, redelivered=attempt > 1, correlation_id=body["correlation_id"])


def email_text(message):
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    return parsed.get_body(("plain",)).get_content()


def make_worker(job_store, smtp_port=None, mailer=None, **options):
    return NotificationWorker(
        jobs=job_store, mailer=mailer or SmtpMailer("127.0.0.1", smtp_port, timeout_seconds=5),
        mail_from="MP3 Converter <noreply@localhost>", public_base_url="http://localhost:8080",
        link_secret=LINK_SECRET, link_ttl_seconds=TTL_SECONDS, **options,
    )


@pytest.fixture
def worker(job_store, stack):
    return make_worker(job_store, stack.smtp_port)


def test_a_finished_job_is_emailed_with_its_fid_and_a_link_that_verifies(worker, finished_job, job_store, mail):
    finished = finished_job("done", "talk.mp4")
    body = finished.message
    before = int(time.time())

    worker.handle(body, delivery(body))

    [message] = mail.messages_to(finished.email)
    assert message["Subject"] == "Your MP3 is ready: talk.mp3"
    assert message["Message-ID"] == f"<job-{body['job_id']}@mp3-converter>"
    text = email_text(message)
    assert FID_LINE.search(text).group(1) == finished.mp3_fid
    link = urlsplit(LINK.search(text).group(1))
    query = {key: value for key, [value] in parse_qs(link.query).items()}
    assert query["fid"] == finished.mp3_fid
    assert before + TTL_SECONDS <= int(query["expires"]) <= int(time.time()) + TTL_SECONDS
    assert query["signature"] == signature(LINK_SECRET, finished.mp3_fid, query["expires"])
    assert job_store.get(body["job_id"])["steps"]["notified"]


def test_a_failed_job_is_emailed_with_the_reason(worker, finished_job, mail):
    finished = finished_job("failed", "holiday.mp4", reason="The file has no audio track to convert.")
    body = finished.message

    worker.handle(body, delivery(body))

    [message] = mail.messages_to(finished.email)
    assert message["Subject"] == "We could not convert holiday.mp4"
    assert "The file has no audio track to convert." in email_text(message)


def test_a_second_delivery_for_the_same_job_sends_nothing(worker, finished_job, mail):
    finished = finished_job("done")
    body = finished.message

    worker.handle(body, delivery(body))
    worker.handle(body, delivery(body, attempt=2))

    assert len(mail.messages_to(finished.email)) == 1


def test_a_deleted_job_gets_no_email(worker, finished_job, job_store, mail):
    finished = finished_job("done")
    body = finished.message
    job_store.delete(body["job_id"])

    worker.handle(body, delivery(body))

    assert mail.messages_to(finished.email) == []


def test_a_mail_server_outage_is_left_to_the_consumer_to_wait_out(job_store, finished_job, smtp_server):
    finished = finished_job("done")
    body = finished.message
    worker = make_worker(job_store, smtp_server.port)

    with pytest.raises(broker.DependencyUnavailable):
        worker.handle(body, delivery(body))
    assert "notified" not in job_store.get(body["job_id"])["steps"]

    # The Consumer calls the handler again once the server is back (tests/common/test_broker.py).
    smtp_server.start()
    worker.handle(body, delivery(body))

    assert len(smtp_server.mailbox.messages_to(finished.email)) == 1
    assert job_store.get(body["job_id"])["steps"]["notified"]


class RefusingMailer:
    """A mail server's 5xx answer: this email is refused, waiting will not change that."""

    def send(self, message):
        raise smtplib.SMTPDataError(554, b"5.7.1 message refused")


def test_a_refused_email_is_an_ordinary_failure_not_an_outage(job_store, finished_job):
    finished = finished_job("done")
    body = finished.message
    worker = make_worker(job_store, mailer=RefusingMailer())

    with pytest.raises(smtplib.SMTPDataError):
        worker.handle(body, delivery(body))
    assert "notified" not in job_store.get(body["job_id"])["steps"]


def test_a_version_1_message_from_a_converter_not_yet_upgraded_is_emailed_too(worker, finished_job, job_store, mail):
    finished = finished_job("failed", "holiday.mp4", reason="The file has no audio track to convert.")
    job = job_store.get(finished.message["job_id"])
    # What a converter before version 2 published: copies of the job's fields, which are ignored.
    version_1 = {**finished.message, "version": 1, "status": "failed", "mp3_fid": None, "owner_id": job["owner_id"],
                 "email": job["email"], "filename": "holiday.mp3", "reason": job["error"]}
    messages.validate(messages.MP3_QUEUE, version_1)

    worker.handle(version_1, delivery(version_1))

    [message] = mail.messages_to(finished.email)
    assert message["Subject"] == "We could not convert holiday.mp4"
    assert "The file has no audio track to convert." in email_text(message)
