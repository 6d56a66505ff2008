"""gunicorn settings for the auth service: `gunicorn -c auth/gunicorn.conf.py auth.wsgi:app`."""

from mp3common.environment import server_settings

# GUNICORN_BIND (or AUTH_PORT on loopback) and LOG_LEVEL; two sync workers, as before.
server = server_settings("AUTH_PORT", 8081, default_workers=2)
bind = server.bind
workers = server.workers
# Recycle workers now and then to bound slow leaks; the jitter keeps them from restarting together.
max_requests = 1000
max_requests_jitter = 100

# Everything goes to stdout, where docker, systemd or kubectl collect it.
loglevel = server.log_level
accesslog = "-"
errorlog = "-"
# gunicorn's default access format logs the HTTP Basic user name (%(u)s), which here is an
# email address: this one leaves it out, and the time, which the formatter below adds.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'
# The one place this service's logging is configured: the application's loggers and gunicorn's
# own write to stdout in one line format, each application line with the request id the gateway
# passed on (mp3common.web), so one id follows a login through both services.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "service": {
            "format": "%(asctime)s %(levelname)s auth [%(correlation_id)s] %(name)s: %(message)s",
        },
        "access": {"format": "%(asctime)s INFO auth [%(process)d] access: %(message)s"},
    },
    "filters": {"correlation_id": {"()": "mp3common.logs.CorrelationIdFilter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "service",
            "filters": ["correlation_id"],
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
