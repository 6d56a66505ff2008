"""broker.Consumer on the real RabbitMQ, with handlers of the test's own: a message is acked only
after its work, a message off its schema is dead-lettered, a failure is retried, an outage of a
dependency is waited out, and a stop cancels the subscription before it hands the message in hand
back."""
import json
import threading

import pika
import pytest

from mp3common import broker, messages
from tests.conftest import fresh_vhost, run_stack

pytestmark = pytest.mark.timeout(120)

JOB_ID = "0123456789abcdef0123456789abcdef"
MAX_DELIVERIES = 3


@pytest.fixture
def amqp_url(stack):
    with fresh_vhost(stack, "test-broker") as url:
        yield url


class RunningConsumer:
    """A Consumer of the `video` queue on a thread, with the handler the test gives it."""

    def __init__(self, amqp_url, handler, outage_tolerance_seconds=0):
        self.consumer = broker.Consumer(amqp_url, messages.VIDEO_QUEUE, handler, max_deliveries=MAX_DELIVERIES,
                                        shutdown_grace_seconds=2, outage_tolerance_seconds=outage_tolerance_seconds)
        self.thread = threading.Thread(target=self.consumer.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def stop(self):
        self.consumer.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the consumer did not stop"

    def __exit__(self, *exc_info):
        self.stop()


def publish(amqp_url, body=None):
    publisher = broker.Publisher(amqp_url, max_deliveries=MAX_DELIVERIES)
    try:
        publisher.publish(messages.VIDEO_QUEUE, body or messages.job_message(JOB_ID, "c-1"))
    finally:
        publisher.close()


def take_one(amqp_url, queue):
    """Take one waiting message off ``queue`` (None if there is none): (properties, body)."""
    connection = broker.connect(amqp_url)
    try:
        method, properties, body = connection.channel().basic_get(queue, auto_ack=True)
        return None if method is None else (properties, json.loads(body))
    finally:
        connection.close()


def test_a_message_is_acked_only_once_its_handler_has_returned(amqp_url, stack):
    attempts, release, second_attempt = [], threading.Event(), threading.Event()

    def handler(body, delivery):
        attempts.append(delivery.attempt)
        if delivery.attempt == 1:
            assert release.wait(30)
        else:
            second_attempt.set()

    publish(amqp_url)
    with RunningConsumer(amqp_url, handler):
        while not attempts:
            pass  # the first delivery is on its way to the handler
        # The connection drops while the handler works: an unacked message goes back to the
        # queue, and the consumer, once its handler is done, takes it again.
        vhost = amqp_url.rsplit("/", 1)[1]
        run_stack("rabbitmqctl", "close_all_connections", "-p", vhost, "a test closing the consumer's connection")
        release.set()
        assert second_attempt.wait(60)
    assert attempts == [1, 2]
    assert take_one(amqp_url, messages.VIDEO_QUEUE) is None, "the second delivery was acked"


def test_a_message_off_its_schema_is_dead_lettered_with_the_reason_and_never_handled(amqp_url):
    handled = []
    connection = broker.connect(amqp_url)
    try:
        channel = connection.channel()
        broker.declare_topology(channel, MAX_DELIVERIES)
        channel.basic_publish("", messages.VIDEO_QUEUE, b'{"version": 2, "job_id": "not-hex", "correlation_id": "c"}',
                              pika.BasicProperties(delivery_mode=2, message_id="bad-1"))
    finally:
        connection.close()

    with RunningConsumer(amqp_url, lambda body, delivery: handled.append(body)):
        dead = None
        while dead is None:
            dead = take_one(amqp_url, f"{messages.VIDEO_QUEUE}.dead")

    properties, body = dead
    assert body == {"version": 2, "job_id": "not-hex", "correlation_id": "c"}
    assert "job_id" in properties.headers[broker.FAILURE_REASON_HEADER]
    assert handled == []


def test_a_failing_handler_gets_the_message_again_and_its_success_is_acked(amqp_url):
    attempts = []
    succeeded = threading.Event()

    def handler(body, delivery):
        attempts.append(delivery.attempt)
        if len(attempts) == 1:
            raise RuntimeError("MongoDB went away for a moment")
        succeeded.set()

    publish(amqp_url)
    with RunningConsumer(amqp_url, handler):
        assert succeeded.wait(60)

    assert attempts == [1, 2]
    assert take_one(amqp_url, messages.VIDEO_QUEUE) is None


def test_a_dependency_outage_is_waited_out_with_the_message_in_hand(amqp_url):
    attempts = []
    succeeded = threading.Event()

    def handler(body, delivery):
        attempts.append(delivery.attempt)
        if len(attempts) < 3:
            raise broker.DependencyUnavailable("mail server unavailable")
        succeeded.set()

    publish(amqp_url)
    with RunningConsumer(amqp_url, handler, outage_tolerance_seconds=600):
        assert succeeded.wait(60)

    # Called three times on the first delivery: the outage used up none of its deliveries.
    assert attempts == [1, 1, 1]
    assert take_one(amqp_url, messages.VIDEO_QUEUE) is None
    assert take_one(amqp_url, f"{messages.VIDEO_QUEUE}.dead") is None


def test_an_outage_longer_than_the_tolerance_becomes_an_ordinary_retry(amqp_url):
    attempts = []
    succeeded = threading.Event()

    def handler(body, delivery):
        attempts.append(delivery.attempt)
        if delivery.attempt == 1:
            raise broker.DependencyUnavailable("mail server unavailable")
        succeeded.set()

    publish(amqp_url)
    with RunningConsumer(amqp_url, handler, outage_tolerance_seconds=0):
        assert succeeded.wait(60)

    assert attempts == [1, 2]


def test_a_stop_during_an_outage_hands_the_message_back_at_once(amqp_url):
    waiting = threading.Event()

    def handler(body, delivery):
        waiting.set()
        raise broker.DependencyUnavailable("mail server unavailable")

    publish(amqp_url)
    running = RunningConsumer(amqp_url, handler, outage_tolerance_seconds=3600)
    with running:
        assert waiting.wait(30)
    # stop() returned (within RunningConsumer.stop's bound), though the outage would be waited
    # out for an hour: the message is back in the queue for another worker.

    properties, body = take_one(amqp_url, messages.VIDEO_QUEUE)
    assert body == messages.job_message(JOB_ID, "c-1")
    assert properties.headers["x-delivery-count"] == 1


def test_a_stop_cancels_the_subscription_then_hands_the_message_back_counted_once(amqp_url):
    started = threading.Event()
    running = None

    def handler(body, delivery):
        started.set()
        # A long conversion that notices the stop, as the converter's ffmpeg loop does.
        running.consumer.wait_for_stop(30)
        raise RuntimeError("abandoned: the worker is stopping")

    publish(amqp_url)
    running = RunningConsumer(amqp_url, handler)
    with running:
        assert started.wait(30)
    # run() has returned: the subscription is gone and the message waits for another worker.

    properties, body = take_one(amqp_url, messages.VIDEO_QUEUE)
    assert body == messages.job_message(JOB_ID, "c-1")
    assert properties.headers["x-delivery-count"] == 1, "handed back once, not delivered again first"
