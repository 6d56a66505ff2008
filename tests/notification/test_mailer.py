"""Which SMTP failures are an outage to wait out, and which refuse the email itself."""
import smtplib
import socket

import pytest

from notification.mailer import is_outage


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
