"""Run the notification service: `python -m notification` consumes the `mp3` queue until SIGTERM or Ctrl-C."""
import logging
import sys

from mp3common import broker, jobs, lifecycle, storage
from notification.mailer import SmtpMailer
from notification.settings import Settings
from notification.worker import NotificationWorker

logger = logging.getLogger(__name__)


def main():
    """Build the settings, wire the worker to MongoDB and SMTP, and consume until stopped."""
    settings = lifecycle.read_settings(Settings, "notification")

    # Nothing connects yet: pymongo connects on first use, SMTP once per email.
    mongo_client = storage.connect(settings.mongodb_uri)
    worker = NotificationWorker(
        jobs=jobs.Jobs(mongo_client),
        mailer=SmtpMailer.from_settings(settings),
        mail_from=settings.mail_from,
        public_base_url=settings.public_base_url,
        link_secret=settings.download_link_secret,
        link_ttl_seconds=settings.download_link_ttl_seconds,
    )
    consumer = broker.Consumer(
        settings.amqp_url,
        NotificationWorker.QUEUE,
        worker.handle,
        max_deliveries=settings.max_deliveries,
        prefetch=NotificationWorker.PREFETCH,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
        # An SMTP outage is waited out with the message in hand (DependencyUnavailable); a stop
        # ends the wait and the message goes back to the queue for the next worker.
        outage_tolerance_seconds=settings.smtp_outage_tolerance_seconds,
    )

    # Readiness leaves SMTP out on purpose: a mail server outage is waited out per message, and
    # marking the service unready would not bring the mail server back.
    lifecycle.serve_probes(consumer, mongo_client, host=settings.health_host, port=settings.health_port)
    lifecycle.stop_on_signals(consumer)

    try:
        consumer.run()
    finally:
        mongo_client.close()
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
