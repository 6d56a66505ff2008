"""gunicorn settings for the auth service: `gunicorn -c auth/gunicorn.conf.py auth.wsgi:app`."""

from mp3common import logs, metrics
from mp3common.environment import server_settings

# GUNICORN_BIND (or AUTH_PORT on loopback), LOG_LEVEL, LOG_FORMAT and PROMETHEUS_MULTIPROC_DIR;
# two sync workers. Not named `server`: gunicorn passes its hooks an argument of that name.
settings = server_settings("AUTH_PORT", 8081, default_workers=2)
bind = settings.bind
workers = settings.workers
# Recycle workers now and then to bound slow leaks; the jitter keeps them from restarting together.
max_requests = 1000
max_requests_jitter = 100

# Everything goes to stdout, where docker, systemd or kubectl collect it.
loglevel = settings.log_level
accesslog = "-"
errorlog = "-"
# The access line of mp3common.access_log: unlike gunicorn's default format, no HTTP Basic user
# name, which here is an email address.
logger_class = "mp3common.access_log.AccessLogger"
# The one place this service's logging is configured: the application's loggers and gunicorn's
# own write to stdout in one format (LOG_FORMAT), each line with the request id the gateway
# passed on (mp3common.web), so one id follows a login through both services.
logconfig_dict = logs.config_dict("auth", settings.log_level, settings.log_format, gunicorn=True)


def on_starting(server):
    """Empty the metrics directory before the first worker starts (prometheus_client's multiprocess mode)."""
    metrics.prepare_multiprocess_dir(settings.prometheus_multiproc_dir)


def child_exit(server, worker):
    """Mark a dead worker's metrics files so, as prometheus_client's multiprocess mode requires."""
    metrics.mark_process_dead(worker.pid, settings.prometheus_multiproc_dir)
