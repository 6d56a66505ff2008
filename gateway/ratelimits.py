"""Rate limits: /login and /register per client address, /upload per user.

Over its limit a request is refused with 429 and `Retry-After` before it costs anything: before
auth is called, before an upload's body is read. The counts are kept in MongoDB (counters.py),
so they hold across gunicorn workers and gateway replicas.
"""

from __future__ import annotations

import logging

from flask import current_app

from gateway import services
from gateway.settings import RateLimit
from mp3common import storage

logger = logging.getLogger(__name__)

LOGIN = "login"
REGISTER = "register"
UPLOAD = "upload"


class RateLimitExceeded(Exception):
    """Too many requests in this window; the client may try again after ``retry_after`` seconds."""

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"{scope} rate limit exceeded; retry after {retry_after} s")
        self.scope = scope
        self.retry_after = retry_after


def enforce(scope: str, key: str | int) -> None:
    """Count this request against ``scope``'s limit for ``key``; raise RateLimitExceeded past it."""
    limit = _configured_limit(scope)
    try:
        retry_after = services.rate_limit_counters().hit(scope, str(key), limit)
    except storage.UNAVAILABLE as error:
        # Fail open. The limits shield auth and storage from floods; they decide nothing about
        # who may do what. With MongoDB down an upload fails anyway (503: it needs MongoDB),
        # while /login and /register do not need MongoDB at all, so failing closed would turn
        # a MongoDB outage into a login outage too. Password guessing stays throttled meanwhile
        # by auth, which counts failed logins in its own database.
        logger.warning("%s rate limit not checked, MongoDB is unavailable: %r", scope, error)
        return
    if retry_after is not None:
        logger.info("%s rate limit %s exceeded by %s; retry after %s s", scope, limit, key, retry_after)
        raise RateLimitExceeded(scope, retry_after)


def _configured_limit(scope: str) -> RateLimit:
    settings = current_app.config["SETTINGS"]
    return {
        LOGIN: settings.login_rate_limit,
        REGISTER: settings.register_rate_limit,
        UPLOAD: settings.upload_rate_limit,
    }[scope]
