"""Smoke tests of the local stack (scripts/stack.sh), with the real clients the services use.

Each test proves one thing the services rely on a server for: GridFS keeps large files intact,
RabbitMQ confirms, delivers and forgets acked persistent messages, the `auth` MySQL user may
create its own test databases, and mail sent over SMTP lands in the Maildir. Every test cleans
up what it made, under a name of its own, so it can run beside other tests on the same stack.
"""
import email
import email.policy
import hashlib
import mailbox
import os
import random
import smtplib
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import MySQLdb
import pika
import pika.exceptions
import pymongo
import pytest
from gridfs import GridFSBucket

REPO = Path(__file__).resolve().parents[2]
# The same variables and defaults as scripts/stack.sh.
RABBITMQ_PORT = int(os.environ.get("RABBITMQ_PORT", "5672"))
MYSQL_PORT = int(os.environ.get("MYSQL_PORT", "3306"))
MONGO_PORT = int(os.environ.get("MONGO_PORT", "27017"))
SMTP_PORT = int(os.environ.get("SMTP_PORT", "1025"))
MAIL_DIR = REPO / ".stack" / "mail"

BLOB_BYTES = 50 * 1024 * 1024
BLOB_PIECE_BYTES = 1024 * 1024


def unique_name(prefix):
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mongo_database():
    """A MongoDB database of this test's own, dropped afterwards."""
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{MONGO_PORT}/", serverSelectionTimeoutMS=5000)
    name = unique_name("stack_smoke_")
    try:
        yield client[name]
        client.drop_database(name)
    finally:
        client.close()


@pytest.fixture
def amqp_channel():
    parameters = pika.ConnectionParameters(
        host="127.0.0.1", port=RABBITMQ_PORT, credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=3, retry_delay=1, blocked_connection_timeout=30,
    )
    connection = pika.BlockingConnection(parameters)
    try:
        yield connection.channel()
    finally:
        connection.close()


@pytest.fixture
def auth_test_database():
    """A fresh `auth_test_*` database made by the app's own MySQL user, dropped afterwards."""
    connection = MySQLdb.connect(host="127.0.0.1", port=MYSQL_PORT, user="auth", password="auth",
                                 charset="utf8mb4", connect_timeout=10)
    name = unique_name("auth_test_")
    try:
        cursor = connection.cursor()
        cursor.execute(f"CREATE DATABASE `{name}`")
        try:
            connection.select_db(name)
            yield connection
        finally:
            cursor.execute(f"DROP DATABASE `{name}`")
    finally:
        connection.close()


def seeded_pieces(seed):
    """The blob, as 1 MiB pieces from a seeded generator: never all 50 MB in memory at once."""
    generator = random.Random(seed)
    for _ in range(BLOB_BYTES // BLOB_PIECE_BYTES):
        yield generator.randbytes(BLOB_PIECE_BYTES)


def test_gridfs_returns_a_50_mb_file_byte_for_byte(mongo_database):
    bucket = GridFSBucket(mongo_database)
    sent = hashlib.sha256()
    with bucket.open_upload_stream("blob.bin", metadata={"purpose": "stack smoke test"}) as upload:
        for piece in seeded_pieces(seed=20240601):
            sent.update(piece)
            upload.write(piece)

    received = hashlib.sha256()
    received_bytes = 0
    with bucket.open_download_stream(upload._id) as download:
        while piece := download.read(BLOB_PIECE_BYTES):
            received.update(piece)
            received_bytes += len(piece)

    assert received_bytes == BLOB_BYTES
    assert received.hexdigest() == sent.hexdigest()


def test_persistent_message_on_a_durable_quorum_queue_is_confirmed_delivered_and_gone_after_ack(
    amqp_channel,
):
    queue = unique_name("stack-smoke-")
    amqp_channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    try:
        amqp_channel.confirm_delivery()
        body = b'{"version": 1, "purpose": "stack smoke test"}'
        # With confirms on, basic_publish returns once the broker has the message, and raises
        # if the broker nacks it or (mandatory) cannot route it to a queue.
        amqp_channel.basic_publish(
            exchange="", routing_key=queue, body=body, mandatory=True,
            properties=pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json",
                message_id=queue,
            ),
        )

        method, properties, delivered = next(amqp_channel.consume(queue, inactivity_timeout=10))
        assert method is not None, "no message delivered within 10 s"
        assert delivered == body
        assert properties.delivery_mode == pika.DeliveryMode.Persistent.value
        amqp_channel.basic_ack(method.delivery_tag)
        amqp_channel.cancel()

        assert amqp_channel.queue_declare(queue, passive=True).method.message_count == 0
        assert amqp_channel.basic_get(queue, auto_ack=False) == (None, None, None)
    finally:
        amqp_channel.queue_delete(queue)


def test_mandatory_publish_to_a_missing_queue_is_refused_as_unroutable(amqp_channel):
    amqp_channel.confirm_delivery()
    with pytest.raises(pika.exceptions.UnroutableError):
        amqp_channel.basic_publish(
            exchange="", routing_key=unique_name("stack-smoke-missing-"), body=b"{}",
            mandatory=True, properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
        )


def test_auth_user_can_create_and_query_a_table_in_a_fresh_auth_test_database(auth_test_database):
    cursor = auth_test_database.cursor()
    cursor.execute(
        "CREATE TABLE note (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100) NOT NULL)"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    )
    cursor.executemany("INSERT INTO note (body) VALUES (%s)", [("first",), ("second, in UTF-8: ♪",)])
    auth_test_database.commit()

    cursor.execute("SELECT body FROM note ORDER BY id")

    assert cursor.fetchall() == (("first",), ("second, in UTF-8: ♪",))


def test_init_scripts_made_the_auth_user_table_for_the_app_user():
    connection = MySQLdb.connect(host="127.0.0.1", port=MYSQL_PORT, user="auth", password="auth",
                                 database="auth", connect_timeout=10)
    try:
        cursor = connection.cursor()
        cursor.execute("SHOW TABLES LIKE 'user'")
        assert cursor.fetchall() == (("user",),)
    finally:
        connection.close()


def wait_for_mail(subject, timeout=10):
    """Return the Maildir key and parsed message with this subject, once it has arrived."""
    deadline = time.monotonic() + timeout
    box = mailbox.Maildir(MAIL_DIR, create=False)
    while time.monotonic() < deadline:
        for key in box.keys():
            message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            if message["Subject"] == subject:
                return key, message
        time.sleep(0.2)
    raise AssertionError(f"no message with subject {subject!r} in {MAIL_DIR} within {timeout} s")


def test_email_sent_over_smtp_arrives_in_the_maildir():
    token = uuid.uuid4().hex
    message = EmailMessage()
    message["From"] = "MP3 Converter <noreply@localhost>"
    message["To"] = f"stack-smoke-{token}@example.test"
    message["Subject"] = f"Stack smoke test {token}"
    message.set_content(f"Your MP3 is ready ({token}).\n")

    with smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=10) as smtp:
        smtp.send_message(message)

    key, received = wait_for_mail(message["Subject"])
    try:
        assert received["To"] == message["To"]
        assert received.get_content() == f"Your MP3 is ready ({token}).\n"
    finally:
        mailbox.Maildir(MAIL_DIR, create=False).discard(key)
