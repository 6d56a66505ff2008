"""Run the converter: `python -m converter` consumes the `video` queue until SIGTERM or Ctrl-C."""
import logging
import signal
import sys

from converter.settings import Settings, SettingsError
from converter.worker import ConversionWorker
from pipeline import broker, health, jobs, logs, storage

logger = logging.getLogger(__name__)


def main():
    """Build the settings, wire the worker to MongoDB and RabbitMQ, and consume until stopped."""
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        sys.exit(f"converter: {error}")
    logs.configure("converter", settings.log_level)

    # Nothing connects yet: pymongo and the Publisher connect on first use.
    mongo_client = storage.connect(settings.mongodb_uri)
    publisher = broker.Publisher(settings.amqp_url, settings.max_deliveries)
    worker = ConversionWorker(
        videos=storage.Bucket(mongo_client, storage.VIDEOS_DB),
        mp3s=storage.Bucket(mongo_client, storage.MP3S_DB),
        jobs=jobs.Jobs(mongo_client),
        publisher=publisher,
        work_dir=settings.work_dir,
        # A stopping worker abandons the conversion in hand (ffmpeg is killed) and the message
        # goes back to the queue: a long conversion would outlast any orchestrator's stop timeout,
        # and running it again elsewhere is safe because the handler is idempotent.
        should_cancel=lambda: consumer.should_stop,
    )
    consumer = broker.Consumer(
        settings.amqp_url,
        ConversionWorker.QUEUE,
        worker.handle,
        max_deliveries=settings.max_deliveries,
        prefetch=ConversionWorker.PREFETCH,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
    )

    health.serve(
        settings.health_port,
        lambda: {"broker": consumer.connected, "mongodb": mongodb_answers(mongo_client)},
        host=settings.health_host,
    )

    def stop(signum, frame):
        logger.info("received %s; stopping", signal.Signals(signum).name)
        consumer.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    try:
        consumer.run()
    finally:
        publisher.close()
        mongo_client.close()
    logger.info("stopped")
    return 0


def mongodb_answers(client):
    try:
        storage.ping(client)
    except storage.UNAVAILABLE:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
