"""gunicorn settings for the auth service: `gunicorn -c auth/gunicorn.conf.py auth.wsgi:app`."""

import os

# This is server configuration, not the application's: like auth/settings.py, and only for these
# server settings, it reads the environment itself.
# Loopback by default. A container sets GUNICORN_BIND=0.0.0.0:8081 to be reachable at all.
bind = os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{os.environ.get('AUTH_PORT', '8081')}"
workers = 2
# Recycle workers now and then to bound slow leaks; the jitter keeps them from restarting together.
max_requests = 1000
max_requests_jitter = 100

# Everything goes to stdout, where docker, systemd or kubectl collect it.
loglevel = os.environ.get("LOG_LEVEL", "INFO").upper()
accesslog = "-"
errorlog = "-"
# gunicorn's default access format logs the HTTP Basic user name (%(u)s), which here is an
# email address: this one leaves it out, and the time, which the formatter below adds.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# The one place this service's logging is configured: the application's loggers and gunicorn's
# own write to stdout in one line format.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "service": {"format": "%(asctime)s %(levelname)s auth [%(process)d] %(name)s: %(message)s"},
        "access": {"format": "%(asctime)s INFO auth [%(process)d] access: %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "service",
        },
        "access": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "access",
        },
    },
    "root": {"level": loglevel, "handlers": ["stdout"]},
    "loggers": {
        # No handlers of their own: records propagate to the root's, so each line is written once.
        "gunicorn.error": {"level": loglevel, "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    },
}
