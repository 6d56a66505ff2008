"""What a worker's entry point does around its broker.Consumer: read its settings, serve its
probes, stop on a signal."""
import logging
import signal
import sys
import threading

from mp3common import health, logs, storage

logger = logging.getLogger(__name__)


def read_settings(settings_class, name):
    """``settings_class.from_env()``, with logging configured as ``name``; exit naming every wrong variable."""
    try:
        settings = settings_class.from_env()
    except ValueError as error:  # each service's SettingsError
        sys.exit(f"{name}: {error}")
    logs.configure(name, settings.log_level, settings.log_format)
    return settings


def serve_probes(consumer, mongo_client, *, host, port):
    """Serve /healthz, and /readyz: ready while the consumer holds a broker connection and MongoDB answers."""
    return health.serve(
        port,
        lambda: {"broker": consumer.connected, "mongodb": _mongodb_answers(mongo_client)},
        host=host,
    )


def stop_on_signals(consumer):
    """Make SIGTERM (an orchestrator's stop) and SIGINT (Ctrl-C) ask the consumer to finish and return.

    signal.signal() may only be called on the main thread: call this from main().
    """

    def stop(signum, frame):
        logger.info("received %s; stopping", signal.Signals(signum).name)
        # From a thread of its own: the handler runs on the main thread between two bytecodes,
        # possibly while that thread holds the lock inside the consumer's threading.Event, and
        # setting the Event here would then wait for that lock for ever.
        threading.Thread(target=consumer.stop, name="stop", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def _mongodb_answers(mongo_client):
    try:
        storage.ping(mongo_client)
    except storage.UNAVAILABLE:
        return False
    return True
