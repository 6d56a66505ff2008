"""Run the converter: `python -m converter` consumes the `video` queue until SIGTERM or Ctrl-C."""
import functools
import logging
import sys
import threading

from converter import scratch, sweep
from converter.deleter import BackgroundDeleter
from converter.settings import Settings
from converter.worker import ConversionWorker
from mp3common import broker, jobs, lifecycle, storage

logger = logging.getLogger(__name__)


def main():
    """Build the settings, wire the worker to MongoDB and RabbitMQ, and consume until stopped."""
    settings = lifecycle.read_settings(Settings, "converter")

    # Nothing connects yet: pymongo and the Publisher connect on first use.
    mongo_client = storage.connect(settings.mongodb_uri)
    publisher = broker.Publisher(settings.amqp_url, settings.max_deliveries)
    videos = storage.Bucket(mongo_client, storage.VIDEOS_DB)
    video_deleter = BackgroundDeleter(videos)
    mp3s = storage.Bucket(mongo_client, storage.MP3S_DB)
    job_store = jobs.Jobs(mongo_client)
    scratch_dir = scratch.claim(settings.work_dir)
    # Set on SIGTERM (through the consumer): the consumer finishes, and ffmpeg is stopped.
    stopping = threading.Event()
    worker = ConversionWorker(
        videos=videos,
        video_deleter=video_deleter,
        mp3s=mp3s,
        jobs=job_store,
        publisher=publisher,
        work_dir=scratch_dir.path,
        media_limits=settings.media_limits,
        # A stopping worker abandons the conversion in hand (ffmpeg is killed) and the message
        # goes back to the queue: a long conversion would outlast any orchestrator's stop timeout,
        # and running it again elsewhere is safe because the handler is idempotent.
        should_cancel=stopping.is_set,
    )
    consumer = broker.Consumer(
        settings.amqp_url,
        ConversionWorker.QUEUE,
        worker.handle,
        max_deliveries=settings.max_deliveries,
        prefetch=ConversionWorker.PREFETCH,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
        stopping=stopping,
    )

    lifecycle.serve_probes(consumer, mongo_client, host=settings.health_host, port=settings.health_port)
    lifecycle.stop_on_signals(consumer)

    # The sweep shares the MongoClient (it is thread-safe) but nothing else with the consumer.
    stop_sweeping = threading.Event()
    if settings.sweep_interval_seconds:
        sweep_once = functools.partial(sweep.sweep_now, job_store, videos, mp3s, settings)
        threading.Thread(
            target=sweep.sweep_every,
            args=(settings.sweep_interval_seconds, sweep_once, stop_sweeping),
            name="sweep",
            daemon=True,
        ).start()

    try:
        consumer.run()
    finally:
        stop_sweeping.set()
        video_deleter.close()
        publisher.close()
        mongo_client.close()
        scratch_dir.remove()
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
