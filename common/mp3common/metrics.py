"""Prometheus metrics: the ones several services feed, the `/metrics` answer, and gunicorn's
multiprocess mode.

This is the only module that imports prometheus_client for serving; a service defines the
metrics only it feeds beside the code that counts them, with the helpers here. Names follow
Prometheus' conventions (base units, `_total` counters, `_seconds` histograms) and every label
has a small, fixed set of values: never a user id, a job id or a path with an id in it.

gunicorn runs several worker processes, each with its own counters. In multiprocess mode
(prometheus_client reads PROMETHEUS_MULTIPROC_DIR when it is imported, so the variable must be
in the environment before the process starts) each worker writes its values to files in that
directory and whichever worker answers `/metrics` adds them all up. Its documented caveats
apply: the directory is emptied before the server starts (``prepare_multiprocess_dir``), a dead
worker is marked so (``mark_process_dead``), and custom collectors, the process collector
included, cannot be served, so process_* metrics come from the two workers (converter,
notification), which are single processes and serve the default registry.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Minutes-long steps (a queue behind a long conversion, a 2 GB upload) as well as sub-second ones.
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Media seconds per wall second: ffmpeg extracts audio at tens to hundreds of times real time.
SPEED_BUCKETS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# A job's path through the system, each step between two of the timestamps in its `steps`
# (docs/architecture.md): the step's name, the timestamp it starts at and the one it ends at.
# `upload` is measured by the gateway itself, from the start of the request to `uploaded`.
JOB_STEPS = (
    ("queue_wait", "uploaded", "picked_up"),
    ("fetch", "picked_up", "fetched"),
    ("convert", "fetched", "converted"),
    ("store", "converted", "stored"),
    ("notify", "stored", "notified"),
)

JOB_STEP_DURATION = Histogram(
    "mp3_job_step_duration_seconds",
    "Time a job spent in each step: upload, queue_wait, fetch, convert, store, notify.",
    ["step"],
    buckets=STEP_BUCKETS,
)

# The broker: every service that publishes or consumes feeds these (mp3common.broker).
MESSAGES_PUBLISHED = Counter("mp3_messages_published_total", "Messages sent to the broker.", ["queue"])
MESSAGES_CONFIRMED = Counter("mp3_messages_confirmed_total", "Messages the broker confirmed.", ["queue"])
MESSAGES_NACKED = Counter("mp3_messages_nacked_total", "Messages the broker refused (nack, or unroutable).",
                          ["queue"])
MESSAGES_REDELIVERED = Counter("mp3_messages_redelivered_total",
                               "Messages received that had been delivered before.", ["queue"])
# acked: handled; retried: handed back after a failure; dead_lettered: a failed last try or an
# invalid message; requeued: handed back unfinished at shutdown.
MESSAGES_HANDLED = Counter("mp3_messages_handled_total", "Messages consumed, by how they were settled.",
                           ["queue", "outcome"])
HANDLED_OUTCOMES = ("acked", "retried", "dead_lettered", "requeued")

# GridFS: the bytes that moved, by bucket (mp3common.storage).
GRIDFS_WRITTEN = Counter("mp3_gridfs_written_bytes_total", "Bytes written to GridFS.", ["bucket"])
GRIDFS_READ = Counter("mp3_gridfs_read_bytes_total", "Bytes read from GridFS.", ["bucket"])

# HTTP, for the Flask services (instrument_flask).
HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered, by route template, method and status class.",
                        ["route", "method", "status_class"])
HTTP_REQUEST_DURATION = Histogram("http_request_duration_seconds",
                                  "Time from a request's arrival to its response, by route template.", ["route"])
# Any other method a client writes is counted as "other", so the label cannot grow without bound.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
UNMATCHED_ROUTE = "unmatched"


def step_seconds(steps: dict, start: str, end: str) -> float | None:
    """Seconds from ``steps[start]`` to ``steps[end]`` (datetimes), or None when either is missing."""
    if not steps.get(start) or not steps.get(end):
        return None
    return max(0.0, (steps[end] - steps[start]).total_seconds())


def observe_job_steps(steps: dict, names: tuple[str, ...]) -> None:
    """Feed the step histogram with the steps ``names`` whose two timestamps ``steps`` holds."""
    for name, start, end in JOB_STEPS:
        if name in names:
            seconds = step_seconds(steps, start, end)
            if seconds is not None:
                JOB_STEP_DURATION.labels(step=name).observe(seconds)


def start_at_zero(counter, *label_sets: dict) -> None:
    """Export ``counter`` with these labels from the start, at 0.

    A labelled series appears only once something increments it, and a query over a series that
    does not exist (a rate of failures before the first failure) returns nothing at all rather
    than 0: dashboards show "no data" and an alert on a ratio cannot tell. Prometheus' own advice
    is to initialise the label values that are known in advance.
    """
    for labels in label_sets:
        counter.labels(**labels)


def status_class(status: int) -> str:
    """`2xx` for 200 to 299, and so on: the status label's five values."""
    return f"{status // 100}xx"


def exposition(multiprocess_dir: Path | None = None) -> bytes:
    """This process's metrics in the text format, or all gunicorn workers' from ``multiprocess_dir``."""
    if multiprocess_dir is None:
        return generate_latest(REGISTRY)
    # A registry of its own for each scrape, holding only the collector that reads the files:
    # registering the live metrics as well would export them twice (the documented caveat).
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))
    return generate_latest(registry)


def prepare_multiprocess_dir(path: Path) -> None:
    """Empty (or create) ``path`` before gunicorn starts: an earlier run's files would add to our counts."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def mark_process_dead(pid: int, path: Path) -> None:
    """Tell the multiprocess files that worker ``pid`` is gone (gunicorn's child_exit hook)."""
    multiprocess.mark_process_dead(pid, str(path))


def instrument_flask(app, multiprocess_dir: Path | None = None) -> None:
    """Count ``app``'s requests and serve `GET /metrics`; the multiprocess directory under gunicorn."""
    from flask import Response, g, request

    @app.before_request
    def _start_timer():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response):
        if "metrics_started" in g:
            route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
            method = request.method if request.method in HTTP_METHODS else "other"
            HTTP_REQUESTS.labels(route=route, method=method, status_class=status_class(response.status_code)).inc()
            HTTP_REQUEST_DURATION.labels(route=route).observe(time.perf_counter() - g.pop("metrics_started"))
        return response

    @app.get("/metrics")
    def metrics():
        """The service's metrics in Prometheus' text format."""
        return Response(exposition(multiprocess_dir), mimetype=None, content_type=CONTENT_TYPE)
