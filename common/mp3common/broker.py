"""RabbitMQ through pika: the queue topology, confirmed publishing, and a consumer loop.

This is the only module that imports pika. pika connections are not thread-safe, so each
Publisher belongs to one thread at a time, and the Consumer keeps its connection on one thread
while the message handler runs on another.
"""
import functools
import logging
import random
import threading
import time
from dataclasses import dataclass

import pika
import pika.exceptions

from mp3common import logs, messages, metrics

logger = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE = "dead-letter"
FAILURE_REASON_HEADER = "x-failure-reason"

# Back-off between reconnects and between retries of a failed message: capped exponential with
# jitter, so a restarted broker is not hit by every worker at the same instant.
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 15.0
# How long a handler told to stop (should_stop) gets to abandon its work at shutdown.
HANDLER_STOP_SECONDS = 5.0

# Errors that mean "the connection went away": reconnect and carry on.
CONNECTION_ERRORS = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ConnectionClosedByBroker,
    pika.exceptions.StreamLostError,
    pika.exceptions.ChannelWrongStateError,
    ConnectionError,
    OSError,
)


class PublishFailed(Exception):
    """The broker did not confirm a message: it was not accepted."""


class DependencyUnavailable(Exception):
    """Raised by a handler when a server it needs is down and the message itself is not at fault.

    The Consumer keeps the message and calls the handler again, with the same back-off as its other
    retries, for up to ``outage_tolerance_seconds``: a mail server down for a few minutes must not
    use up the message's deliveries and send it to the dead-letter queue.
    """


def backoff_seconds(attempt):
    """Delay before try number ``attempt`` (1-based): 0.5, 1, 2, 4 ... up to 15 s, with jitter."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def connect(amqp_url):
    parameters = pika.URLParameters(amqp_url)
    parameters.connection_attempts = 1
    parameters.blocked_connection_timeout = 30
    return pika.BlockingConnection(parameters)


def declare_topology(channel, max_deliveries):
    """Declare (idempotently) the exchanges and queues every service relies on."""
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, exchange_type="direct", durable=True)
    for queue in (messages.VIDEO_QUEUE, messages.MP3_QUEUE):
        dead_queue = f"{queue}.dead"
        channel.queue_declare(dead_queue, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(dead_queue, DEAD_LETTER_EXCHANGE, routing_key=queue)
        channel.queue_declare(
            queue,
            durable=True,
            arguments={
                # Quorum queues are replicated and count redeliveries, so a message that crashes
                # its consumer again and again is dead-lettered instead of looping forever.
                "x-queue-type": "quorum",
                "x-delivery-limit": max_deliveries,
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                "x-dead-letter-routing-key": queue,
            },
        )


def _properties(body, correlation_id):
    return pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent,
        content_type="application/json",
        correlation_id=correlation_id,
        message_id=body.get("job_id") if isinstance(body, dict) else None,
    )


class Publisher:
    """Publishes persistent messages and returns only after the broker confirmed each one."""

    def __init__(self, amqp_url, max_deliveries):
        self._amqp_url = amqp_url
        self._max_deliveries = max_deliveries
        self._connection = None
        self._channel = None
        for counter in (metrics.MESSAGES_PUBLISHED, metrics.MESSAGES_CONFIRMED, metrics.MESSAGES_NACKED):
            metrics.start_at_zero(counter, {"queue": messages.VIDEO_QUEUE}, {"queue": messages.MP3_QUEUE})

    def publish(self, queue, body):
        """Validate ``body`` against the queue's schema and publish it; raise PublishFailed."""
        payload = messages.encode(queue, body)
        properties = _properties(body, body["correlation_id"])
        # An idle connection may have been dropped by the broker (missed heartbeats, restart):
        # one retry on a fresh connection covers that. A duplicate from the retry is harmless
        # because consumers are idempotent on the job id.
        for attempt in (1, 2):
            try:
                channel = self._open_channel()
                metrics.MESSAGES_PUBLISHED.labels(queue=queue).inc()
                channel.basic_publish("", queue, payload, properties, mandatory=True)
                metrics.MESSAGES_CONFIRMED.labels(queue=queue).inc()
                return
            except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as error:
                metrics.MESSAGES_NACKED.labels(queue=queue).inc()
                raise PublishFailed(f"broker refused the message: {error!r}") from error
            except CONNECTION_ERRORS as error:
                self.close()
                if attempt == 2:
                    raise PublishFailed(f"broker unreachable: {error!r}") from error
                logger.info("publishing to %s failed (%r); reconnecting once", queue, error)
            except pika.exceptions.AMQPError as error:
                # The broker closed the channel on purpose (a queue declared otherwise, a
                # permission): a second try would meet the same refusal.
                self.close()
                raise PublishFailed(f"broker refused the message: {error!r}") from error

    def check(self):
        """Raise PublishFailed unless a channel to the broker can be opened now."""
        try:
            self._open_channel()
            self._connection.process_data_events(time_limit=0)
        except (*CONNECTION_ERRORS, pika.exceptions.AMQPError) as error:
            # A readiness check: whatever the broker answers instead of a channel means not ready.
            self.close()
            raise PublishFailed(f"broker unreachable: {error!r}") from error

    def _open_channel(self):
        if self._channel is None or not self._channel.is_open:
            if self._connection is None or not self._connection.is_open:
                self._connection = connect(self._amqp_url)
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
            declare_topology(self._channel, self._max_deliveries)
        return self._channel

    def close(self):
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # closing a broken connection may fail; it is gone either way
                logger.debug("error while closing a broken connection", exc_info=True)


@dataclass(frozen=True)
class Delivery:
    """What a handler is told about the message besides its body."""

    attempt: int
    redelivered: bool
    correlation_id: str


class Consumer:
    """Consumes one queue with manual acks; runs ``handler(body, delivery)`` off pika's thread.

    Outcomes: the handler returns -> ack. It raises messages.InvalidMessage (or the body fails the
    schema) -> dead-lettered at once with the reason. It raises DependencyUnavailable -> called
    again after a back-off, the message kept in hand, until ``outage_tolerance_seconds`` have gone
    by; then, like anything else it raises -> the message is requeued after a back-off, and
    dead-lettered with the reason on its ``max_deliveries``-th try. A stop ends every wait at once
    and hands the message back.
    """

    def __init__(self, amqp_url, queue, handler, *, max_deliveries, prefetch=1, shutdown_grace_seconds=25,
                 outage_tolerance_seconds=0, stopping=None):
        self.amqp_url = amqp_url
        self.queue = queue
        self.handler = handler
        self.max_deliveries = max_deliveries
        self.prefetch = prefetch
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.outage_tolerance_seconds = outage_tolerance_seconds
        self.connected = False
        self._consumer_tag = None
        # Set by stop(); a worker's entry point may pass in the Event its handler waits on too.
        self._stopping = stopping if stopping is not None else threading.Event()
        # Messages handed to a handler thread and not yet settled; `_idle` is set when there is none.
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        metrics.start_at_zero(metrics.MESSAGES_REDELIVERED, {"queue": queue})
        metrics.start_at_zero(metrics.MESSAGES_HANDLED,
                              *({"queue": queue, "outcome": outcome} for outcome in metrics.HANDLED_OUTCOMES))

    @property
    def should_stop(self):
        """Whether stop() was called: a long handler polls this to abandon its work."""
        return self._stopping.is_set()

    def stop(self):
        """Ask the loop to finish the message in hand and return; every wait below ends at once."""
        self._stopping.set()

    def wait_for_stop(self, seconds):
        """Wait up to ``seconds`` for stop(); return whether it came. For a handler that waits."""
        return self._stopping.wait(seconds)

    def run(self):
        """Consume until stop() is called, reconnecting with capped back-off when the broker goes."""
        failures = 0
        while not self.should_stop:
            try:
                self._consume()
                failures = 0
            except pika.exceptions.ChannelClosedByBroker as error:
                # The broker closed our channel on purpose (e.g. a queue declared with other
                # arguments): retrying the same thing cannot help, so stop and say why.
                logger.error("broker closed the channel: %s", error)
                raise
            except CONNECTION_ERRORS as error:
                # Only these are retried: anything else (a channel the broker closed on purpose
                # included) is a fault another attempt would repeat, and it stops the worker.
                self.connected = False
                failures += 1
                delay = backoff_seconds(failures)
                logger.warning("broker connection lost (%r); reconnecting in %.1f s", error, delay)
                # The message in hand can no longer be acked on the lost channel; let its handler
                # finish before taking the redelivery, so one job never runs twice at once.
                self._idle.wait()
                self._stopping.wait(delay)
            finally:
                self.connected = False

    def _consume(self):
        connection = connect(self.amqp_url)
        try:
            channel = connection.channel()
            declare_topology(channel, self.max_deliveries)
            channel.basic_qos(prefetch_count=self.prefetch)
            self._consumer_tag = channel.basic_consume(
                self.queue,
                functools.partial(self._on_message, connection),
            )
            self.connected = True
            logger.info("consuming from queue %s", self.queue)
            while not self.should_stop:
                connection.process_data_events(time_limit=1)
            self._stop_deliveries(channel)
            self._drain(connection)
        finally:
            if connection.is_open:
                connection.close()

    def _stop_deliveries(self, channel):
        """Cancel the subscription, so that a stopping consumer is sent nothing more.

        The broker counts every message handed back against the queue's delivery limit. Without
        this, a message requeued at shutdown (or the next one, once an ack frees the prefetch
        slot) would be delivered straight back to this consumer, only to be handed back again.
        """
        if self._consumer_tag is None or not channel.is_open:
            return
        consumer_tag, self._consumer_tag = self._consumer_tag, None
        # Whatever was already on its way is handed back; with prefetch 1 and a message in hand,
        # nothing can be.
        for method, _properties, _body in channel.basic_cancel(consumer_tag):
            channel.basic_nack(method.delivery_tag, requeue=True)

    def _drain(self, connection):
        """On shutdown, keep the connection serviced while the message in hand finishes."""
        deadline = time.monotonic() + self.shutdown_grace_seconds
        while self._in_flight and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.5)
        if self._in_flight:
            # Closing the connection hands the unacked message back to the broker for another
            # worker; the handler sees should_stop and stops its work.
            logger.warning("shutting down with a message in hand; the broker will redeliver it")
            connection.close()
            self._idle.wait(HANDLER_STOP_SECONDS)

    def _on_message(self, connection, channel, method, properties, body):
        with self._in_flight_lock:
            self._in_flight += 1
            self._idle.clear()
        worker = threading.Thread(
            target=self._handle,
            args=(connection, channel, method, properties, body),
            name=f"{self.queue}-handler",
            daemon=True,
        )
        worker.start()

    def _handle(self, connection, channel, method, properties, raw_body):
        headers = properties.headers or {}
        attempt = int(headers.get("x-delivery-count", 0)) + 1
        logs.correlation_id.set(properties.correlation_id or "-")
        if method.redelivered or attempt > 1:
            metrics.MESSAGES_REDELIVERED.labels(queue=self.queue).inc()
        try:
            body = messages.decode(self.queue, raw_body)
            delivery = Delivery(attempt=attempt, redelivered=method.redelivered,
                                correlation_id=body["correlation_id"])
            logs.correlation_id.set(delivery.correlation_id)
            self._call_through_outages(body, delivery)
            outcome = "acked"
            settle = functools.partial(self._ack, channel, method.delivery_tag)
        except messages.InvalidMessage as error:
            logger.error("dead-lettering an invalid message: %s", error)
            outcome = "dead_lettered"
            settle = functools.partial(self._dead_letter, channel, method.delivery_tag, properties, raw_body,
                                       str(error))
        except Exception as error:  # any failure here is retried, then dead-lettered
            if self.should_stop:
                logger.info("handler interrupted by shutdown (%r); requeueing", error)
                outcome = "requeued"
                settle = functools.partial(self._requeue, channel, method.delivery_tag)
            elif attempt >= self.max_deliveries:
                logger.exception("giving up after %d attempts; dead-lettering", attempt)
                outcome = "dead_lettered"
                settle = functools.partial(self._dead_letter, channel, method.delivery_tag, properties, raw_body,
                                           repr(error))
            else:
                delay = backoff_seconds(attempt)
                logger.warning("attempt %d failed (%r); retrying in %.1f s", attempt, error, delay, exc_info=True)
                self._stopping.wait(delay)
                outcome = "retried"
                settle = functools.partial(self._requeue, channel, method.delivery_tag)
        metrics.MESSAGES_HANDLED.labels(queue=self.queue, outcome=outcome).inc()
        # pika is not thread-safe: the ack must be sent from the connection's own thread. The
        # message counts as in flight until then, so a shutdown waits for the ack to go out.
        try:
            connection.add_callback_threadsafe(functools.partial(self._settle, channel, settle))
        except CONNECTION_ERRORS:
            logger.warning("connection closed before the message could be settled; it will be redelivered")
            self._finished_one()

    def _call_through_outages(self, body, delivery):
        """Call the handler; while it reports a dependency down, wait and call it again."""
        deadline = time.monotonic() + self.outage_tolerance_seconds
        outage_attempt = 0
        while True:
            try:
                return self.handler(body, delivery)
            except DependencyUnavailable as error:
                outage_attempt += 1
                delay = backoff_seconds(outage_attempt)
                if time.monotonic() + delay > deadline:
                    logger.error("%s, still after %d attempts; giving up on waiting", error, outage_attempt)
                    raise
                logger.warning("%s; trying again in %.1f s", error, delay)
                if self._stopping.wait(delay):
                    raise

    def _settle(self, channel, settle):
        try:
            if self.should_stop:
                # Before the ack or requeue frees the prefetch slot (see _stop_deliveries).
                self._stop_deliveries(channel)
            settle()
        finally:
            self._finished_one()

    def _finished_one(self):
        with self._in_flight_lock:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    @staticmethod
    def _ack(channel, delivery_tag):
        # If the channel closed meanwhile, the broker has already requeued the message and a
        # late ack would be an error; the redelivery is handled idempotently.
        if channel.is_open:
            channel.basic_ack(delivery_tag)

    @staticmethod
    def _requeue(channel, delivery_tag):
        if channel.is_open:
            channel.basic_nack(delivery_tag, requeue=True)

    def _dead_letter(self, channel, delivery_tag, properties, raw_body, reason):
        """Move the message to its dead-letter queue with the reason in a header, then ack it."""
        if not channel.is_open:
            return
        headers = dict(properties.headers or {})
        headers[FAILURE_REASON_HEADER] = reason[:1000]
        dead_properties = pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent,
            content_type=properties.content_type,
            correlation_id=properties.correlation_id,
            message_id=properties.message_id,
            headers=headers,
        )
        channel.basic_publish(DEAD_LETTER_EXCHANGE, self.queue, raw_body, dead_properties)
        channel.basic_ack(delivery_tag)
