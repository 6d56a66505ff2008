"""Which SMTP failures are an outage to wait out, and which refuse the email itself; how an
outage is counted."""
import smtplib
import socket
from email.message import EmailMessage

import pytest
from prometheus_client import REGISTRY

from notification.mailer import OutageClock, SmtpMailer, is_outage


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "Connection reset by peer"),
        socket.timeout("timed out"),
        socket.gaierror(-2, "Name or service not known"),
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        smtplib.SMTPConnectError(421, b"Service not available, try later"),
        smtplib.SMTPDataError(451, b"Requested action aborted: local error"),
    ],
)
def test_an_unreachable_or_busy_server_is_an_outage(error):
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPAuthenticationError(535, b"Authentication credentials invalid"),
        smtplib.SMTPSenderRefused(553, b"Sender address rejected", "noreply@localhost"),
        smtplib.SMTPDataError(554, b"Message rejected as spam"),
        smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"No such user")}),
        smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."),
    ],
)
def test_a_refusal_of_the_email_itself_is_not_an_outage(error):
    assert not is_outage(error)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_an_outage_is_measured_from_its_first_failed_attempt_to_the_attempt_that_works():
    clock = FakeClock()
    outage = OutageClock(clock)

    assert outage.worked() == 0.0  # no outage yet
    assert outage.failed() == 0.0  # the first failure starts it
    clock.now += 4
    assert outage.failed() == 4.0
    clock.now += 6
    assert outage.worked() == 6.0  # 10 s in all, counted as it went
    clock.now += 30
    assert outage.worked() == 0.0  # over: the next success adds nothing


def test_the_mailer_counts_an_unreachable_server_as_an_outage_and_the_time_it_lasts():
    clock = FakeClock()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once the socket is closed
    mailer = SmtpMailer("127.0.0.1", port, timeout_seconds=2, clock=clock)
    failed_before = REGISTRY.get_sample_value("mp3_emails_failed_total", {"reason": "outage"}) or 0.0
    outage_before = REGISTRY.get_sample_value("mp3_smtp_outage_seconds_total") or 0.0

    for _ in range(2):
        with pytest.raises(OSError):
            mailer.send(EmailMessage())
        clock.now += 5

    assert REGISTRY.get_sample_value("mp3_emails_failed_total", {"reason": "outage"}) - failed_before == 2
    assert REGISTRY.get_sample_value("mp3_smtp_outage_seconds_total") - outage_before == 5.0
