"""gunicorn settings for the gateway: `gunicorn -c gateway/gunicorn.conf.py gateway.wsgi:app`."""

from mp3common import logs, metrics
from mp3common.environment import server_settings

# GUNICORN_BIND (or GATEWAY_PORT on loopback), GUNICORN_WORKERS, GUNICORN_WORKER_CONNECTIONS,
# LOG_LEVEL, LOG_FORMAT and PROMETHEUS_MULTIPROC_DIR. Not named `server`: gunicorn passes its
# hooks an argument of that name.
settings = server_settings("GATEWAY_PORT", 8080, default_workers=2, default_worker_connections=100)
bind = settings.bind

# gevent rather than threads: a request spends most of its time waiting (on a slow upload,
# GridFS, ffprobe, the broker), and a greenlet waits for less than a thread. With the same
# workers, gevent took about a quarter less CPU per authenticated GET /jobs/<id> than gthread
# with 4 threads: 9 runs of the bench's gateway figure, mostly alternated, each scaled by the
# speed of one core in it (raw means 1.52 against 1.69 ms; issue 16's notes list the runs).
# The worker patches the standard library before it loads the app, so pymongo, pika, requests
# and subprocess (ffprobe) all yield while they wait. Every request of a worker shares its
# MongoClient; pika is not safe to share, so a publish borrows a Publisher from a small pool
# (gateway/services.py).
worker_class = "gevent"
workers = settings.workers
# At most this many connections per worker; the rest wait in the listen backlog. It is
# pymongo's default pool size, so a request does not queue again for a MongoDB connection.
worker_connections = settings.worker_connections

# A 2 GB upload on a slow link takes minutes. The gevent worker reports to the arbiter from a
# greenlet of its own, which runs whenever a request waits on I/O, so `timeout` does not cut
# such an upload short; it restarts a worker that has stopped yielding (a request stuck on the
# CPU), and 300 s keeps even that far from a busy moment.
timeout = 300
# On SIGTERM, requests in flight get this long to finish; it matches the 30 s that docker and
# Kubernetes wait before SIGKILL. An upload cut off here is retried by the client (Idempotency-Key).
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then to bound slow leaks; the jitter keeps them from restarting together.
# Not too often: a new worker costs about a second of CPU to load the app, and at 1,000 requests
# per second a limit of 1,000 restarted one every second (bench/results).
max_requests = 20000
max_requests_jitter = 2000

# The worker heartbeat file goes to memory: the container's root filesystem is read-only, and a
# heartbeat on a slow disk can make a healthy worker look hung.
worker_tmp_dir = "/dev/shm"

# Everything to stdout, where the platform (docker, journald, kubectl logs) collects it, in one
# format (LOG_FORMAT) with the application's lines (mp3common.logs), each with its request id.
loglevel = settings.log_level.lower()
accesslog = "-"
errorlog = "-"
logconfig_dict = logs.config_dict("gateway", settings.log_level, settings.log_format, gunicorn=True)
# The access line of mp3common.access_log: built from its few fields rather than gunicorn's
# atoms, and without the signature of a signed download link.
logger_class = "mp3common.access_log.AccessLogger"


def worker_exit(server, worker):
    """Close the worker's broker and MongoDB connections cleanly once its requests are done."""
    app = getattr(worker, "wsgi", None)
    # A worker whose app failed to load holds gunicorn's error app instead: nothing to close.
    if hasattr(app, "extensions"):
        # Imported here, not at the top: the master process never loads the application.
        from gateway import services

        services.close(app)


def on_starting(server):
    """Empty the metrics directory before the first worker starts (prometheus_client's multiprocess mode)."""
    metrics.prepare_multiprocess_dir(settings.prometheus_multiproc_dir)


def child_exit(server, worker):
    """Mark a dead worker's metrics files so, as prometheus_client's multiprocess mode requires."""
    metrics.mark_process_dead(worker.pid, settings.prometheus_multiproc_dir)
