"""Sending email over SMTP with the standard library; the only module that imports smtplib."""
import logging
import smtplib
import ssl
import threading
import time

from prometheus_client import Counter

from mp3common import metrics

logger = logging.getLogger(__name__)

EMAILS_SENT = Counter("mp3_emails_sent_total", "Emails the mail server accepted.")
# outage: the server was unreachable or answered 4xx (the email is tried again); refused: 5xx.
EMAILS_FAILED = Counter("mp3_emails_failed_total", "Attempts to send an email that failed, by reason.", ["reason"])
metrics.start_at_zero(EMAILS_FAILED, {"reason": "outage"}, {"reason": "refused"})
SMTP_OUTAGE = Counter("mp3_smtp_outage_seconds_total",
                      "Time from a first failed attempt for an outage to the attempt that worked, or the last one.")

# Errors from SMTP and from the network under it. smtplib's own errors are OSErrors too; both
# names are kept so the intent reads plainly where they are caught.
SEND_ERRORS = (smtplib.SMTPException, OSError)


def is_outage(error):
    """True when ``error`` says the mail server is unreachable or busy, not that the email is wrong."""
    if isinstance(error, smtplib.SMTPResponseException):
        # 4xx replies mean "try again later"; 5xx mean this email (or our login) is refused.
        return 400 <= error.smtp_code < 500
    if isinstance(error, smtplib.SMTPException):
        return isinstance(error, smtplib.SMTPServerDisconnected)
    # Connection refused or reset, a timeout, a name that does not resolve.
    return isinstance(error, OSError)


class SmtpMailer:
    """Sends each message on a connection of its own: simple, and nothing to keep alive between jobs."""

    def __init__(self, host, port, *, security="none", user=None, password=None, timeout_seconds=10,
                 clock=time.monotonic):
        self.host = host
        self.port = port
        self.security = security
        self.user = user
        self.password = password
        self.timeout_seconds = timeout_seconds
        self._outage = OutageClock(clock)

    @classmethod
    def from_settings(cls, settings):
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            user=settings.smtp_user,
            password=settings.smtp_password,
            timeout_seconds=settings.smtp_timeout_seconds,
        )

    def send(self, message):
        """Hand ``message`` (an email.message.EmailMessage) to the server; raise one of SEND_ERRORS."""
        try:
            self._send(message)
        except SEND_ERRORS as error:
            outage = is_outage(error)
            EMAILS_FAILED.labels(reason="outage" if outage else "refused").inc()
            if outage:
                SMTP_OUTAGE.inc(self._outage.failed())
            raise
        EMAILS_SENT.inc()
        SMTP_OUTAGE.inc(self._outage.worked())

    def _send(self, message):
        smtp = self._connect()
        try:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.user is not None:
                smtp.login(self.user, self.password)
            smtp.send_message(message)
        finally:
            _quit_quietly(smtp)

    def _connect(self):
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_seconds, context=ssl.create_default_context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)


class OutageClock:
    """Measures how long the mail server has been out, from one attempt to the next.

    Each call returns the seconds since the previous failed attempt of the same outage, so the
    outage counter grows while it lasts rather than only once it is over.
    """

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._last_failure = None

    def failed(self):
        """An attempt failed for an outage: the seconds since the previous one (0 for the first)."""
        with self._lock:
            now = self._clock()
            elapsed = 0.0 if self._last_failure is None else now - self._last_failure
            self._last_failure = now
            return elapsed

    def worked(self):
        """An attempt worked: the seconds since the last failed one, which end the outage (0 if none)."""
        with self._lock:
            if self._last_failure is None:
                return 0.0
            elapsed, self._last_failure = self._clock() - self._last_failure, None
            return elapsed


def _quit_quietly(smtp):
    # Once the server has accepted the message, a failed QUIT must not turn into an error: the
    # caller would retry and the recipient would get the email twice.
    try:
        smtp.quit()
    except SEND_ERRORS:
        logger.debug("SMTP QUIT failed; closing the connection", exc_info=True)
        smtp.close()
