"""/healthz (the process answers) and /readyz (it can reach MongoDB, RabbitMQ and auth's keys)."""

from __future__ import annotations

import logging

from flask import Blueprint

from gateway import services
from mp3common import storage

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: answering at all is the whole test."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Readiness: 200 only when every dependency of an upload is reachable, else 503."""
    checks = {
        "mongodb": _passes("mongodb", lambda: storage.ping(services.mongo_client())),
        "broker": _passes("broker", _check_broker),
        # Served from the cached key set while it is fresh: what matters is that tokens can be checked.
        "jwks": _passes("jwks", lambda: services.token_verifier().keys.get_signing_keys()),
    }
    ready = all(checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


def _check_broker():
    with services.publisher() as publisher:
        publisher.check()


def _passes(name, check) -> bool:
    try:
        check()
    except Exception as error:  # noqa: BLE001 - a probe must answer with what failed, not crash
        # One line, no trace: probes come every few seconds while a dependency is down.
        logger.warning("readiness check %s failed: %r", name, error)
        return False
    return True
