"""A floor under the gateway's CPU per request, for the bench alone: what gunicorn, gevent, Flask
and pymongo cost on this machine for one job read, with none of the gateway's own code around it.

Served with the gateway's gunicorn command and config (`gunicorn -c gateway/gunicorn.conf.py
bench.framework_floor:app`, bench/system.py): the same gevent workers, connections and access
line. One route reads the job by `_id` and answers it as GET /jobs/<id> does (gateway.jobs.job_json),
without the token check, the ownership check, the request id, the headers and the metrics. The
gateway's figure less this one is what the project's code costs per request; no change to that
code can take the gateway below this one.
"""
from __future__ import annotations

import os
import threading

from flask import Flask, abort

from gateway import services
from gateway.jobs import job_json
from mp3common import jobs, storage


class _JobsCollection:
    """The worker's one MongoClient, made by the first request; closed as the gateway's are, by
    gunicorn's worker_exit hook (gateway/gunicorn.conf.py), through the app's extensions."""

    def __init__(self, mongo_uri: str) -> None:
        self._mongo_uri = mongo_uri
        self._lock = threading.Lock()
        self._client = None

    def get(self):
        with self._lock:
            if self._client is None:
                self._client = storage.connect(self._mongo_uri)
            return self._client[jobs.JOBS_DB]["jobs"]

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def create_app() -> Flask:
    app = Flask(__name__)
    collection = _JobsCollection(os.environ["MONGODB_URI"])
    app.extensions[services.EXTENSION_NAME] = collection

    @app.get("/readyz")
    def ready():
        return {"status": "ok"}

    @app.get("/jobs/<job_id>")
    def get_job(job_id: str):
        job = collection.get().find_one({"_id": job_id})
        if job is None:
            abort(404)
        return job_json(job)

    return app


app = create_app()
