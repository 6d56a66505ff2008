"""The fixed-window counters behind the rate limits, on the real MongoDB, with the clock given."""
import uuid

import pytest

from gateway.counters import COLLECTION, DATABASE, Counters
from gateway.settings import RateLimit
from mp3common import storage

# A multiple of 60 (and so of 20): the start of a window for each limit below.
WINDOW_START = 1_700_000_040


@pytest.fixture
def counters(mongo_client):
    counters = Counters(mongo_client)
    counters.ensure_indexes()
    return counters


@pytest.fixture
def key(mongo_client):
    """A key of this test's own, its counters removed afterwards: the collection is shared."""
    key = uuid.uuid4().hex
    yield key
    mongo_client[DATABASE][COLLECTION].delete_many({"_id": {"$regex": key}})


def test_requests_past_the_limit_are_told_how_long_the_window_still_lasts(counters, key):
    limit = RateLimit(requests=2, seconds=60)

    assert counters.hit("test", key, limit, now=WINDOW_START) is None
    assert counters.hit("test", key, limit, now=WINDOW_START + 10) is None
    assert counters.hit("test", key, limit, now=WINDOW_START + 15.5) == 45
    assert counters.hit("test", key, limit, now=WINDOW_START + 59.9) == 1


def test_each_window_counts_from_zero(counters, key):
    limit = RateLimit(requests=1, seconds=60)

    assert counters.hit("test", key, limit, now=WINDOW_START) is None
    assert counters.hit("test", key, limit, now=WINDOW_START + 30) == 30
    assert counters.hit("test", key, limit, now=WINDOW_START + 60) is None


def test_keys_and_scopes_are_counted_apart(counters, key):
    limit = RateLimit(requests=1, seconds=60)

    assert counters.hit("test", key, limit, now=WINDOW_START) is None
    assert counters.hit("test", key + "-other", limit, now=WINDOW_START) is None
    assert counters.hit("test-other", key, limit, now=WINDOW_START) is None
    assert counters.hit("test", key, limit, now=WINDOW_START) is not None


def test_two_mongodb_clients_count_into_one_counter(mongo_uri, counters, key):
    # As two gunicorn workers or two gateway replicas do, each with a client of its own.
    other_client = storage.connect(mongo_uri)
    try:
        other = Counters(other_client)
        limit = RateLimit(requests=2, seconds=60)

        assert counters.hit("test", key, limit, now=WINDOW_START) is None
        assert other.hit("test", key, limit, now=WINDOW_START) is None
        assert counters.hit("test", key, limit, now=WINDOW_START) is not None
        assert other.hit("test", key, limit, now=WINDOW_START) is not None
    finally:
        other_client.close()


def test_windows_that_are_over_do_not_stay(mongo_client, counters, key):
    limit = RateLimit(requests=5, seconds=20)
    collection = mongo_client[DATABASE][COLLECTION]

    counters.hit("test", key, limit, now=WINDOW_START)
    counters.hit("test", key, limit, now=WINDOW_START + 20)

    indexes = collection.index_information().values()
    if any(index.get("expireAfterSeconds") == 0 for index in indexes):
        # MongoDB: its TTL monitor deletes the old window, within a minute of its expires_at.
        return
    # FerretDB, without TTL indexes: the first request of the new window swept the old one.
    assert collection.count_documents({"_id": f"test:{key}:{WINDOW_START}"}) == 0
    assert collection.count_documents({"_id": f"test:{key}:{WINDOW_START + 20}"}) == 1
