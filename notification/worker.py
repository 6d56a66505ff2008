"""The handling of one `mp3` message: one email to the job's owner, sent once per job."""
import datetime
import email.utils
import logging
import time
from email.message import EmailMessage

from mp3common import broker, filenames, jobs, links, messages, metrics
from notification import mailer

logger = logging.getLogger(__name__)

SUCCESS_TEXT = """\
Hello,

your MP3 "{filename}" is ready. Download it with this link, which works until {expires} UTC:

{link}

Signed in, you can also download it by its file id:
fid: {mp3_fid}

MP3 Converter
"""

FAILURE_TEXT = """\
Hello,

we could not convert "{filename}" to MP3:

{reason}

The uploaded file has been deleted. You are welcome to try again with another file.

MP3 Converter
"""


def message_id(job_id):
    """The Message-ID of a job's email: a duplicate sent after a crash is recognisable as one."""
    return f"<job-{job_id}@mp3-converter>"


def one_line(text):
    """``text`` with control characters (newlines included) turned into spaces, fit for a header."""
    return "".join(char if char.isprintable() else " " for char in text).strip()


class NotificationWorker:
    """Handles `mp3` messages; a job that is already marked notified gets no second email."""

    QUEUE = messages.MP3_QUEUE
    PREFETCH = 1

    def __init__(
        self,
        *,
        jobs,
        mailer,
        mail_from,
        public_base_url,
        link_secret,
        link_ttl_seconds,
        clock=time.time,
    ):
        self._jobs = jobs
        self._mailer = mailer
        self._mail_from = mail_from
        self._public_base_url = public_base_url
        self._link_secret = link_secret
        self._link_ttl_seconds = link_ttl_seconds
        self._clock = clock

    def handle(self, body, delivery):
        """Email the job's owner about its result, unless that was done already."""
        job_id = body["job_id"]
        try:
            job = self._jobs.get(job_id)
        except jobs.JobNotFound:
            logger.info("job %s no longer exists (its owner deleted it); no email", job_id)
            return
        if job.get("steps", {}).get("notified"):
            logger.info("job %s already notified; not sending again", job_id)
            return

        if job["state"] not in jobs.FINISHED_STATES:
            # Only a finished job is announced; a message about one that is not is out of order.
            logger.warning("job %s is %s, not finished; no email", job_id, job["state"])
            return

        self._send(self.compose(job))
        # A crash between the send and this line means one duplicate email after redelivery;
        # SMTP offers no way to make the two one step, and a lost email would be worse.
        notified = self._jobs.mark_notified(job_id)
        if notified is None:
            logger.warning("job %s was notified by another delivery at the same time", job_id)
        else:
            metrics.observe_job_steps(notified["steps"], ("notify",))
        logger.info("emailed the owner of job %s (%s)", job_id, job["state"])

    def compose(self, job):
        """The email about a finished job: the download link, or the reason it failed."""
        now = self._clock()
        message = EmailMessage()
        message["From"] = self._mail_from
        message["To"] = job["email"]
        message["Date"] = email.utils.formatdate(now, usegmt=True)
        message["Message-ID"] = message_id(job["_id"])
        if job["state"] == jobs.DONE:
            expires = int(now) + self._link_ttl_seconds
            mp3_name = filenames.mp3_name(job["filename"])
            message["Subject"] = f"Your MP3 is ready: {one_line(mp3_name)}"
            message.set_content(
                SUCCESS_TEXT.format(
                    filename=mp3_name,
                    expires=datetime.datetime.fromtimestamp(expires, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
                    link=links.signed_download_url(
                        self._public_base_url, job["mp3_fid"], self._link_secret, self._link_ttl_seconds, now
                    ),
                    mp3_fid=job["mp3_fid"],
                )
            )
        else:
            message["Subject"] = f"We could not convert {one_line(job['filename'])}"
            message.set_content(FAILURE_TEXT.format(filename=job["filename"], reason=job["error"]))
        return message

    def _send(self, message):
        # The Consumer retries a failed message MAX_DELIVERIES times with back-off capped at 15 s,
        # about half a minute in all, then dead-letters it: a mail server down for a few minutes
        # would cost users their emails. So an outage (refused connection, timeout, a 4xx reply)
        # is reported as DependencyUnavailable, which the Consumer waits out for up to its outage
        # tolerance with the message kept in hand. A refusal of the email itself (5xx) is an
        # ordinary failure, retried and then dead-lettered.
        try:
            self._mailer.send(message)
        except mailer.SEND_ERRORS as error:
            if mailer.is_outage(error):
                raise broker.DependencyUnavailable(f"mail server unavailable ({error!r})") from error
            raise
