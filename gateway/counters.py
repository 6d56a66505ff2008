"""Fixed-window request counters in MongoDB, shared by every gunicorn worker and gateway replica.

The clock is cut into windows of a limit's length (12:00:00-12:01:00, ...), and each (scope, key,
window) has one counter document, `{_id: "login:203.0.113.7:1717000020", count, expires_at}`.
A request adds one to its counter with a single atomic upsert, so concurrent requests in any
process count into the same document. A client can get up to twice the limit through across a
window boundary: the price of one document and one round trip per request.
"""

from __future__ import annotations

import datetime
import math
import time

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from gateway.settings import RateLimit
from mp3common import mongo_compat

# The gateway's own database: the counters are no other service's business.
DATABASE = "gateway"
COLLECTION = "ratelimits"


class Counters:
    """The request counters, one document per (scope, key, window)."""

    def __init__(self, client) -> None:
        self._counters = client[DATABASE][COLLECTION]
        # Until a TTL index is known to exist, hit() deletes the windows that are over itself.
        self._sweeps_expired = True

    def ensure_indexes(self) -> None:
        """Have the server delete expired windows if it can, else index them for hit()'s sweep."""
        self._sweeps_expired = not mongo_compat.ensure_expiry_index(self._counters, "expires_at")

    def hit(self, scope: str, key: str, limit: RateLimit, now: float | None = None) -> int | None:
        """Count one request; over the limit, return the seconds until its window ends, else None."""
        now = time.time() if now is None else now
        window_start = int(now // limit.seconds) * limit.seconds
        window_end = window_start + limit.seconds
        count = self._increment(f"{scope}:{key}:{window_start}", _utc(window_end))
        if count == 1 and self._sweeps_expired:
            # The first request of a window is a good moment: at most once per key and window.
            self._counters.delete_many({"expires_at": {"$lte": _utc(now)}})
        if count <= limit.requests:
            return None
        return max(1, math.ceil(window_end - now))

    def _increment(self, counter_id: str, expires_at: datetime.datetime) -> int:
        update = {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires_at}}
        try:
            counter = self._increment_once(counter_id, update)
        except DuplicateKeyError:
            # The first two requests of a window raced to insert the counter and this one lost;
            # the document exists now, so the same update increments it.
            counter = self._increment_once(counter_id, update)
        return counter["count"]

    def _increment_once(self, counter_id: str, update: dict) -> dict:
        return self._counters.find_one_and_update(
            {"_id": counter_id}, update, upsert=True, return_document=ReturnDocument.AFTER
        )


def _utc(timestamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
