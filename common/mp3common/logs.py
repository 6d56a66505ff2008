"""Logging set up once per process, to stdout, with the job's correlation id on every line."""
import contextvars
import logging
import sys

# Set by whoever starts work on a job (an upload request, a consumed message); every log record
# emitted in that context carries it, so one grep follows a job through all four services.
correlation_id = contextvars.ContextVar("correlation_id", default="-")


class CorrelationIdFilter(logging.Filter):
    """Puts the correlation id of the current context on each record, for the `%(correlation_id)s` field."""

    def filter(self, record):
        record.correlation_id = correlation_id.get()
        return True


def configure(service_name, level="INFO"):
    """Send every log record of this process to stdout in one line format."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(CorrelationIdFilter())
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)s {service_name} [%(correlation_id)s] %(name)s: %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pika logs every connection attempt at INFO; our own reconnect messages say what matters.
    logging.getLogger("pika").setLevel(logging.WARNING)
