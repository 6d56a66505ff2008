"""`python -m notification` as a real process on the real stack: one email per job, also when the
mail server was down for a while, and a clean stop."""
import os
import time

import pytest

from mp3common import broker, messages
from tests.conftest import PYTHON, ServiceProcess, free_port


@pytest.fixture
def start_notification(amqp_url, mongo_uri, secrets_dir, stack, tmp_path):
    """Start `python -m notification` against a given SMTP port; every process is stopped afterwards."""
    started = []

    def start(smtp_port=stack.smtp_port):
        port = free_port()
        service = ServiceProcess(
            name="notification",
            argv=[PYTHON, "-m", "notification"],
            env={**os.environ, "AMQP_URL": amqp_url, "MONGODB_URI": mongo_uri, "HEALTH_PORT": str(port),
                 "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port),
                 "DOWNLOAD_LINK_SECRET_FILE": str(secrets_dir / "download-link.key"),
                 "PUBLIC_BASE_URL": "http://127.0.0.1:8080"},
            health_url=f"http://127.0.0.1:{port}/readyz",
            log_path=tmp_path / f"notification-{len(started)}.log",
        )
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.kill()


@pytest.fixture
def publisher(amqp_url):
    publisher = broker.Publisher(amqp_url, max_deliveries=3)
    yield publisher
    publisher.close()


def wait_for_log(service, text, timeout=30):
    deadline = time.monotonic() + timeout
    while text not in service.log_path.read_text():
        assert time.monotonic() < deadline, f"{text!r} not logged within {timeout}s:\n{service.log_tail()}"
        time.sleep(0.2)


def test_an_mp3_message_becomes_one_email_and_sigterm_stops_the_service(
    start_notification, publisher, finished_job, mail, job_store
):
    service = start_notification()
    finished = finished_job("done", "talk.mp4")
    body = finished.message

    publisher.publish(messages.MP3_QUEUE, body)

    [message] = mail.wait_for(finished.email, timeout=30)
    assert message["Subject"] == "Your MP3 is ready: talk.mp3"
    started = time.monotonic()
    assert service.stop(timeout=15) == 0
    assert time.monotonic() - started < 5
    assert job_store.get(body["job_id"])["steps"]["notified"]


def test_with_the_mail_server_down_the_email_is_sent_once_it_is_back(
    start_notification, publisher, finished_job, smtp_server, job_store
):
    service = start_notification(smtp_port=smtp_server.port)
    finished = finished_job("done")
    body = finished.message
    publisher.publish(messages.MP3_QUEUE, body)
    wait_for_log(service, "mail server unavailable")
    time.sleep(3)
    assert "notified" not in job_store.get(body["job_id"])["steps"]

    smtp_server.start()

    smtp_server.mailbox.wait_for(finished.email, timeout=60)
    time.sleep(2)
    assert len(smtp_server.mailbox.messages_to(finished.email)) == 1
    assert job_store.get(body["job_id"])["steps"]["notified"]
    assert service.stop(timeout=15) == 0


def test_a_service_stopped_while_the_mail_server_is_down_leaves_the_email_to_the_next_one(
    start_notification, publisher, finished_job, smtp_server
):
    waiting = start_notification(smtp_port=smtp_server.port)
    finished = finished_job("failed")
    body = finished.message
    publisher.publish(messages.MP3_QUEUE, body)
    wait_for_log(waiting, "mail server unavailable")

    started = time.monotonic()
    assert waiting.stop(timeout=15) == 0
    assert time.monotonic() - started < 5

    smtp_server.start()
    start_notification(smtp_port=smtp_server.port)
    smtp_server.mailbox.wait_for(finished.email, timeout=60)
    time.sleep(2)
    assert len(smtp_server.mailbox.messages_to(finished.email)) == 1
