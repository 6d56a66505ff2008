"""Smoke tests of the local stack (scripts/stack.sh), with the real clients the services use.

Each test proves one thing the scripts promise the services and the tests: the `auth` MySQL user
may create its own test databases, mysql-init/ made the schema, mail sent over SMTP lands in the
Maildir, and RabbitMQ serves Prometheus metrics on the port the harness names. (What RabbitMQ
and GridFS do is the servers' business; what our code does with them is tested in
tests/common.) Every test cleans up what it made, under a name of its own, so it can run beside
other tests on the same stack.
"""
import email
import email.policy
import mailbox
import smtplib
import time
import uuid
from email.message import EmailMessage

import MySQLdb
import pika
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from harness.stack import Stack, fresh_vhost

STACK = Stack.from_env()
MYSQL_PORT, SMTP_PORT, MAIL_DIR = STACK.mysql_port, STACK.smtp_port, STACK.mail_dir


def unique_name(prefix):
    return f"{prefix}{uuid.uuid4().hex[:12]}"


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


def test_the_metrics_port_is_15692_by_default_and_moves_with_the_broker_port():
    assert Stack.from_env({}).rabbitmq_prometheus_port == 15692
    assert Stack.from_env({"RABBITMQ_PORT": "5702"}).rabbitmq_prometheus_port == 15722
    chosen = Stack.from_env({"RABBITMQ_PORT": "5702", "RABBITMQ_PROMETHEUS_PORT": "9419"})
    assert chosen.rabbitmq_prometheus_port == 9419


def test_rabbitmq_serves_the_depth_of_each_queue_for_prometheus():
    """Queue depth comes from RabbitMQ itself (rabbitmq_prometheus), per queue and vhost."""
    with fresh_vhost(STACK, unique_name("metrics_")) as amqp_url:
        vhost = amqp_url.rsplit("/", 1)[1]
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel = connection.channel()
            channel.queue_declare("video.dead", durable=True, arguments={"x-queue-type": "quorum"})
            for n in range(2):
                channel.basic_publish("", "video.dead", f"message {n}".encode())
        finally:
            connection.close()

        def depth():
            text = requests.get(f"http://127.0.0.1:{STACK.rabbitmq_prometheus_port}/metrics/per-object",
                                timeout=10).text
            return next((sample.value for family in text_string_to_metric_families(text)
                         for sample in family.samples
                         if sample.name == "rabbitmq_queue_messages"
                         and sample.labels.get("vhost") == vhost and sample.labels.get("queue") == "video.dead"),
                        None)

        # The plugin serves statistics the broker collects every few seconds: wait for them.
        deadline = time.monotonic() + 60
        while depth() != 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert depth() == 2
