"""The store: what the MongoDB-protocol server the bench runs against can do on its own, so that
every other figure can be read against it. GridFS writes and reads (through mp3common.storage,
as the services move files), lookups by `_id` and by an indexed field, and whether updates made
by concurrent clients are applied atomically.

The local stand-in (FerretDB v1) and a real MongoDB differ most here: FerretDB scans a whole
bucket for each GridFS read, and reads then writes a conditional update, so two clients can
both win it. A run against a real MongoDB (`make bench MONGODB_URI=...`) shows the difference
in this one table.
"""
from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass

from bench.sampling import MB
from mp3common import storage

# As many clients as the measurements used; more than the cores, as real load is.
CONCURRENT_CLIENTS = 4
# The read is timed with one file in the bucket, then with this many.
FILES_IN_FULL_BUCKET = 5
# Documents in the lookup collection, each about the size of a job document.
LOOKUP_DOCUMENTS = 1000
DOCUMENT_PADDING = "x" * 600


@dataclass(frozen=True)
class StoreFigure:
    server: str  # the server's own name and version (buildInfo)
    file_mb: int
    write_mb_per_second: float
    read_mb_per_second_one_file: float
    read_mb_per_second_full_bucket: float
    # One file's GridFS delete with the bucket full: the converter deletes each job's video so.
    delete_seconds_full_bucket: float
    files_in_full_bucket: int
    lookups_per_second_by_id: float
    lookups_per_second_by_indexed_field: float
    concurrent_clients: int
    increments_expected: int
    increments_applied: int  # what the counter read after all the clients' $inc
    claims_expected: int  # one winner per document
    claims_won: int  # conditional updates that reported success, over all the clients


def measure(context) -> StoreFigure:
    """Each measurement in a database of the bench's own, dropped afterwards."""
    plan = context.plan
    uri = context.system.mongo_uri
    client = storage.connect(uri, timeout_seconds=30)
    database = f"bench_store_{os.getpid()}"
    try:
        gridfs = measure_gridfs(storage.Bucket(client, database), context.scratch, plan.store_file_mb)
        by_id, by_field = measure_lookups(client[database]["lookups"], plan.store_lookup_seconds)
        increments_expected, increments_applied = count_increments(uri, database, plan.store_increments_per_client)
        claims_won = count_claims(uri, database, plan.store_claims)
    finally:
        client.drop_database(database)
        client.close()
    return StoreFigure(
        server=context.system.mongo_server,
        file_mb=plan.store_file_mb,
        **gridfs,
        files_in_full_bucket=FILES_IN_FULL_BUCKET,
        lookups_per_second_by_id=by_id,
        lookups_per_second_by_indexed_field=by_field,
        concurrent_clients=CONCURRENT_CLIENTS,
        increments_expected=increments_expected,
        increments_applied=increments_applied,
        claims_expected=plan.store_claims,
        claims_won=claims_won,
    )


def measure_gridfs(bucket, scratch, file_mb):
    """MB/s of one write, of a read with that file alone in the bucket, and of the same read once
    the bucket holds FILES_IN_FULL_BUCKET files (FerretDB's reads slow down as the bucket grows);
    then the seconds of deleting that file from the full bucket."""
    source = scratch / "store-file"
    # Random bytes: nothing on the way (the server's storage, the disk) can compress them.
    with open(source, "wb") as target:
        for _ in range(file_mb):
            target.write(os.urandom(MB))
    try:
        write_seconds, fid = _timed(lambda: _put(bucket, source))
        read_one_seconds, _ = _timed(lambda: _read(bucket, fid))
        for _ in range(FILES_IN_FULL_BUCKET - 1):
            _put(bucket, source)
        read_full_seconds, _ = _timed(lambda: _read(bucket, fid))
        delete_seconds, _ = _timed(lambda: bucket.delete(fid))
    finally:
        source.unlink(missing_ok=True)
    return {
        "write_mb_per_second": round(file_mb / write_seconds, 2),
        "read_mb_per_second_one_file": round(file_mb / read_one_seconds, 2),
        "read_mb_per_second_full_bucket": round(file_mb / read_full_seconds, 2),
        "delete_seconds_full_bucket": round(delete_seconds, 3),
    }


def _put(bucket, source):
    with open(source, "rb") as video:
        return bucket.put(video, source.name, {"job_id": "bench-store"})


def _read(bucket, fid):
    # The project's batched reader (Bucket.copy_to): GridOut's plain read() fails on FerretDB
    # for files over about 26 MB.
    with open(os.devnull, "wb") as sink:
        bucket.copy_to(fid, sink)


def measure_lookups(collection, seconds):
    """find_one per second from one client, by `_id` and by an indexed field, on random documents."""
    collection.insert_many([{"_id": f"document-{number}", "owner_id": number, "state": "done",
                             "padding": DOCUMENT_PADDING} for number in range(LOOKUP_DOCUMENTS)])
    collection.create_index("owner_id")
    by_id = _rate(lambda: collection.find_one({"_id": f"document-{random.randrange(LOOKUP_DOCUMENTS)}"}), seconds)
    by_field = _rate(lambda: collection.find_one({"owner_id": random.randrange(LOOKUP_DOCUMENTS)}), seconds)
    return by_id, by_field


def _rate(lookup, seconds):
    lookup()  # connected before the clock starts
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        lookup()
        count += 1
    return round(count / (time.perf_counter() - start), 1)


def count_increments(uri, database, per_client):
    """(expected, applied) of CONCURRENT_CLIENTS clients each sending ``per_client`` $inc to one
    counter at the same time: on a server that applies each update atomically the two are equal."""
    counter = {"_id": "counter"}
    with _client(uri) as client:
        client[database]["counters"].insert_one({**counter, "value": 0})

    def increment(collection):
        for _ in range(per_client):
            collection.update_one(counter, {"$inc": {"value": 1}})

    _concurrently(uri, database, "counters", increment)
    with _client(uri) as client:
        applied = client[database]["counters"].find_one(counter)["value"]
    return CONCURRENT_CLIENTS * per_client, applied


def count_claims(uri, database, claims):
    """How many conditional updates of ``claims`` queued documents reported success when
    CONCURRENT_CLIENTS clients raced to claim each one, as converters claim a job
    (mp3common.jobs.Jobs.mark_converting): atomic, it is exactly one per document."""
    with _client(uri) as client:
        client[database]["claims"].insert_many([{"_id": number, "state": "queued"} for number in range(claims)])
    won = []

    def claim(collection):
        mine = sum(collection.find_one_and_update({"_id": number, "state": "queued"},
                                                  {"$set": {"state": "claimed"}}) is not None
                   for number in range(claims))
        won.append(mine)

    _concurrently(uri, database, "claims", claim)
    return sum(won)


def _concurrently(uri, database, collection_name, work):
    """Run ``work(collection)`` in CONCURRENT_CLIENTS threads at once, each with a client (and so
    a connection) of its own; raise what any of them raised."""
    start = threading.Barrier(CONCURRENT_CLIENTS)
    errors = []

    def run():
        with _client(uri) as client:
            collection = client[database][collection_name]
            collection.find_one({})  # connected before the race starts
            start.wait()
            try:
                work(collection)
            except Exception as error:  # noqa: BLE001 - re-raised below, in the measuring thread
                errors.append(error)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(CONCURRENT_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if errors:
        raise errors[0]


def _client(uri):
    """A MongoClient of its own; `with` closes it."""
    return storage.connect(uri, timeout_seconds=30)


def _timed(action):
    """(seconds, what ``action`` returned)."""
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result
