"""The gateway's clients for MongoDB, RabbitMQ and auth's key set, made on first use.

Nothing here connects at import time or in create_app. gunicorn loads the app and then forks its
workers; a MongoClient or a broker connection opened before the fork would be shared by every
worker, which neither library supports. Created on first use, each worker process gets its own
MongoClient (safe to share between its greenlets) and a small pool of Publishers: a pika
connection must only be used by one request at a time, so each publish borrows one and gives it
back. The pool grows to the most publishes ever in flight at once, not with the number of
requests served.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app

from gateway import tokens
from gateway.counters import Counters
from gateway.settings import Settings
from mp3common import broker, storage
from mp3common.jobs import Jobs

logger = logging.getLogger(__name__)

EXTENSION_NAME = "gateway.services"


class Services:
    """One process's clients, each built the first time a request needs it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._mongo_client = None
        self._jobs: Jobs | None = None
        self._videos: storage.Bucket | None = None
        self._mp3s: storage.Bucket | None = None
        self._rate_limit_counters: Counters | None = None
        self._token_verifier: tokens.Verifier | None = None
        # Every Publisher made, so close() reaches them all, and those not lent out right now.
        self._publishers: list[broker.Publisher] = []
        self._idle_publishers: list[broker.Publisher] = []

    def mongo_client(self):
        # Locked: two threads racing here would each make a client, and one pool would leak.
        with self._lock:
            if self._mongo_client is None:
                self._mongo_client = storage.connect(self._settings.mongodb_uri)
            return self._mongo_client

    # The four below are cheap wrappers around the one client. Two threads racing to make one
    # just make it twice, which is harmless, so no lock is held, least of all while
    # ensure_indexes() waits on a MongoDB that is down.
    def jobs(self) -> Jobs:
        if self._jobs is None:
            jobs = Jobs(self.mongo_client())
            # Idempotent. If MongoDB is down this raises, nothing is cached, and the next
            # request tries again.
            jobs.ensure_indexes()
            self._jobs = jobs
        return self._jobs

    def videos(self) -> storage.Bucket:
        if self._videos is None:
            self._videos = storage.Bucket(self.mongo_client(), storage.VIDEOS_DB)
        return self._videos

    def mp3s(self) -> storage.Bucket:
        if self._mp3s is None:
            self._mp3s = storage.Bucket(self.mongo_client(), storage.MP3S_DB)
        return self._mp3s

    def rate_limit_counters(self) -> Counters:
        if self._rate_limit_counters is None:
            counters = Counters(self.mongo_client())
            counters.ensure_indexes()  # like jobs(): cached only once it has worked
            self._rate_limit_counters = counters
        return self._rate_limit_counters

    @contextmanager
    def publisher(self) -> Iterator[broker.Publisher]:
        """A Publisher no other request is using until this one gives it back (pika is not thread-safe)."""
        with self._lock:
            if self._idle_publishers:
                publisher = self._idle_publishers.pop()
            else:
                # Cheap to make under the lock: it connects when first used, not here.
                publisher = broker.Publisher(self._settings.amqp_url, self._settings.max_deliveries)
                self._publishers.append(publisher)
        try:
            yield publisher
        finally:
            with self._lock:
                self._idle_publishers.append(publisher)

    def token_verifier(self) -> tokens.Verifier:
        # Locked: one per process, so that every thread shares its key set and accepted tokens.
        with self._lock:
            if self._token_verifier is None:
                settings = self._settings
                self._token_verifier = tokens.Verifier(settings.jwks_url, settings.jwt_issuer, settings.jwt_audience)
            return self._token_verifier

    def close(self) -> None:
        """Close every connection; only for a process (or a test) that has finished its requests."""
        with self._lock:
            publishers, self._publishers, self._idle_publishers = self._publishers, [], []
            mongo_client, self._mongo_client = self._mongo_client, None
            self._jobs = self._videos = self._mp3s = self._rate_limit_counters = None
        for publisher in publishers:
            publisher.close()
        if mongo_client is not None:
            mongo_client.close()


def init_app(app: Flask, settings: Settings) -> None:
    """Attach an empty set of clients to the app; nothing connects until a request needs it."""
    app.extensions[EXTENSION_NAME] = Services(settings)


def _services() -> Services:
    return current_app.extensions[EXTENSION_NAME]


def mongo_client():
    return _services().mongo_client()


def jobs() -> Jobs:
    return _services().jobs()


def videos() -> storage.Bucket:
    return _services().videos()


def mp3s() -> storage.Bucket:
    return _services().mp3s()


def rate_limit_counters() -> Counters:
    return _services().rate_limit_counters()


def publisher():
    """``with services.publisher() as publisher:`` lends one of the process's Publishers."""
    return _services().publisher()


def token_verifier() -> tokens.Verifier:
    return _services().token_verifier()


def close(app: Flask) -> None:
    """Close the app's connections (gunicorn's worker_exit hook, test teardown)."""
    app.extensions[EXTENSION_NAME].close()
