"""Logging set up once per process, to stdout, with the job's correlation id on every line.

Two formats (LOG_FORMAT): `plain` lines for people, the default, and `json`, one object a line,
for log collectors; both carry the same fields. The workers call ``configure``; the gunicorn
servers hand ``config_dict`` to gunicorn (``logconfig_dict``), so that gunicorn's own lines
come out in the same format as the application's.
"""
import contextvars
import logging
import logging.config

# Set by whoever starts work on a job (an upload request, a consumed message); every log record
# emitted in that context carries it, so one grep follows a job through all four services.
correlation_id = contextvars.ContextVar("correlation_id", default="-")

PLAIN_FORMAT = "%(asctime)s %(levelname)s {service} [%(correlation_id)s] %(name)s: %(message)s"
# The fields of a JSON line, renamed below to the names log collectors expect.
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(correlation_id)s %(message)s"
JSON_RENAMED_FIELDS = {"asctime": "time", "levelname": "level", "name": "logger"}


class CorrelationIdFilter(logging.Filter):
    """Puts the correlation id of the current context on each record, for the `%(correlation_id)s` field."""

    def filter(self, record):
        record.correlation_id = correlation_id.get()
        return True


def _formatter(service_name, log_format):
    if log_format == "json":
        return {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": JSON_RENAMED_FIELDS,
            "static_fields": {"service": service_name},
        }
    return {"format": PLAIN_FORMAT.format(service=service_name)}


def config_dict(service_name, level="INFO", log_format="plain", *, gunicorn=False):
    """The logging configuration of a service, for logging.config.dictConfig or gunicorn's logconfig_dict.

    With ``gunicorn``, gunicorn's error log joins the application's lines and its access log gets
    a handler of its own, without the correlation id filter: an access line is written after the
    request's context has ended, and carries the request id itself (mp3common.access_log).
    """
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"service": _formatter(service_name, log_format)},
        "filters": {"correlation_id": {"()": CorrelationIdFilter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "service",
                "filters": ["correlation_id"],
            },
        },
        "root": {"level": level, "handlers": ["stdout"]},
        "loggers": {
            # pika logs every connection attempt at INFO; our own reconnect messages say what matters.
            "pika": {"level": "WARNING"},
        },
    }
    if gunicorn:
        config["handlers"]["access"] = {**config["handlers"]["stdout"], "filters": []}
        config["loggers"].update({
            # No handlers of their own: records propagate to the root's, so each line is written once.
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        })
    return config


def configure(service_name, level="INFO", log_format="plain"):
    """Send every log record of this process to stdout, as plain lines or JSON objects."""
    logging.config.dictConfig(config_dict(service_name, level, log_format))
