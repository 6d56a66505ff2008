"""gunicorn settings for the gateway: `gunicorn -c gateway/gunicorn.conf.py gateway.wsgi:app`."""

from mp3common.environment import server_settings

# GUNICORN_BIND (or GATEWAY_PORT on loopback), GUNICORN_WORKERS, GUNICORN_THREADS and LOG_LEVEL.
server = server_settings("GATEWAY_PORT", 8080, default_workers=2, default_threads=4)
bind = server.bind

# Threads rather than more processes: a request spends most of its time waiting (on a slow
# upload, GridFS, ffprobe, the broker), and the threads of a worker share its MongoClient.
# pika is not thread-safe, so each thread gets a Publisher of its own (gateway/services.py).
worker_class = "gthread"
workers = server.workers
threads = server.threads

# A 2 GB upload on a slow link takes minutes. With gthread a worker's main loop keeps reporting
# to the arbiter while its threads serve requests, so `timeout` does not cut such an upload short;
# it restarts a worker whose main loop has hung, and 300 s keeps even that far from a busy moment.
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

# Access lines to stdout, gunicorn's own messages to stderr; the platform (docker, journald,
# kubectl logs) collects both. The application's logs are configured in gateway.create_app().
loglevel = server.log_level.lower()
accesslog = "-"
errorlog = "-"
# The request id on each access line matches the correlation id in the application's lines.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'


def worker_exit(server, worker):
    """Close the worker's broker and MongoDB connections cleanly once its requests are done."""
    app = getattr(worker, "wsgi", None)
    # A worker whose app failed to load holds gunicorn's error app instead: nothing to close.
    if hasattr(app, "extensions"):
        # Imported here, not at the top: the master process never loads the application.
        from gateway import services

        services.close(app)
