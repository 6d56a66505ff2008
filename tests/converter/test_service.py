"""`python -m converter` as a real process on the real stack: it converts, survives bad input and
stops cleanly when told to."""
import json
import os
import time

import pika
import pytest
import requests

from mp3common import broker, messages
from tests.conftest import PYTHON, ServiceProcess, free_port
from tests.faults.conftest import queue_lengths


@pytest.fixture(scope="module")
def converter(amqp_url, mongo_uri, tmp_path_factory):
    port = free_port()
    logs = tmp_path_factory.mktemp("converter-logs")
    work_dir = tmp_path_factory.mktemp("converter-work")
    service = ServiceProcess(
        name="converter",
        argv=[PYTHON, "-m", "converter"],
        env={**os.environ, "AMQP_URL": amqp_url, "MONGODB_URI": mongo_uri, "HEALTH_PORT": str(port),
             "WORK_DIR": str(work_dir), "LOG_LEVEL": "INFO"},
        health_url=f"http://127.0.0.1:{port}/readyz",
        log_path=logs / "converter.log",
    )
    service.start()
    yield service
    service.kill()


def test_the_worker_reports_ready_once_connected(converter):
    response = requests.get(converter.health_url, timeout=5)

    assert response.status_code == 200
    assert response.json()["checks"] == {"broker": True, "mongodb": True}


def test_a_queued_video_is_converted_and_announced(converter, upload, publisher, queue, job_store):
    body = upload.video("lecture.mov", seconds=2)

    publisher.publish(messages.VIDEO_QUEUE, body)

    assert queue.take(messages.MP3_QUEUE, body["job_id"], timeout=60) == [body]
    job = job_store.get(body["job_id"])
    assert job["state"] == "done" and job["mp3_fid"]


def test_an_invalid_message_is_dead_lettered_and_the_worker_keeps_going(converter, amqp_url, upload, publisher, queue):
    connection = broker.connect(amqp_url)
    try:
        channel = connection.channel()
        broker.declare_topology(channel, max_deliveries=3)
        channel.basic_publish(
            "", messages.VIDEO_QUEUE, json.dumps({"version": 1, "job_id": "not-hex"}).encode(),
            pika.BasicProperties(delivery_mode=2, message_id="invalid-1", content_type="application/json"),
        )
    finally:
        connection.close()

    [(dead, properties)] = queue.collect(f"{messages.VIDEO_QUEUE}.dead", "invalid-1", timeout=30)
    assert dead == {"version": 1, "job_id": "not-hex"}
    assert "video message" in properties.headers[broker.FAILURE_REASON_HEADER]

    body = upload.video("after.mp4", seconds=1)
    publisher.publish(messages.VIDEO_QUEUE, body)
    assert queue.take(messages.MP3_QUEUE, body["job_id"], timeout=60) == [body]


def test_sigterm_stops_an_idle_worker_promptly_with_exit_code_0(converter, amqp_url):
    # Idle first: the job before this test is announced before its source is deleted, and a
    # worker that is stopped finishes the job in hand.
    deadline = time.monotonic() + 60
    while queue_lengths(amqp_url).get(messages.VIDEO_QUEUE, 0):
        assert time.monotonic() < deadline, "the worker still holds a video message"
        time.sleep(0.2)
    started = time.monotonic()

    assert converter.stop(timeout=15) == 0
    assert time.monotonic() - started < 5
    assert "stopped" in converter.log_tail()
