"""Sending email over SMTP with the standard library; the only module that imports smtplib."""
import logging
import smtplib
import ssl

logger = logging.getLogger(__name__)

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

    def __init__(self, host, port, *, security="none", user=None, password=None, timeout_seconds=10):
        self.host = host
        self.port = port
        self.security = security
        self.user = user
        self.password = password
        self.timeout_seconds = timeout_seconds

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


def _quit_quietly(smtp):
    # Once the server has accepted the message, a failed QUIT must not turn into an error: the
    # caller would retry and the recipient would get the email twice.
    try:
        smtp.quit()
    except SEND_ERRORS:
        logger.debug("SMTP QUIT failed; closing the connection", exc_info=True)
        smtp.close()
