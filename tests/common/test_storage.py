"""mp3common.storage against the MongoDB-protocol server: what it keeps in memory while it moves a
file, and that the file comes back whole."""
import hashlib
import io
import os
import tracemalloc
import uuid

import gridfs.errors
import pytest
from bson import ObjectId

from mp3common import storage

FILE_BYTES = 40 * 1024 * 1024


@pytest.fixture
def database_name(mongo_client):
    name = f"storage_test_{uuid.uuid4().hex[:12]}"
    yield name
    mongo_client.drop_database(name)


@pytest.fixture
def bucket(mongo_client, database_name):
    return storage.Bucket(mongo_client, database_name)


def test_a_put_holds_a_few_chunks_in_memory_not_the_whole_file(bucket, tmp_path):
    source = tmp_path / "video.bin"
    with source.open("wb") as out:
        for _ in range(FILE_BYTES // (1024 * 1024)):
            out.write(os.urandom(1024 * 1024))

    tracemalloc.start()
    try:
        with source.open("rb") as video:
            fid = bucket.put(video, "video.bin", {"job_id": "memory"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # pymongo's own default batches up to 48 MB: this whole 40 MB file would have been held twice.
    assert peak < 3 * storage.BATCH_BYTES, f"peak {peak / 2**20:.1f} MiB of Python allocations"
    stored = hashlib.sha256()
    with bucket.open(fid) as download:
        assert download.length == FILE_BYTES
        while piece := download.read(storage.CHUNK_SIZE):
            stored.update(piece)
    assert stored.hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()


def test_a_read_holds_a_few_chunks_in_memory_and_checks_every_chunk(bucket, mongo_client, database_name, tmp_path):
    payload = os.urandom(FILE_BYTES)
    fid = bucket.put(io.BytesIO(payload), "video.bin", {"job_id": "memory"})
    copy = tmp_path / "copy.bin"

    tracemalloc.start()
    try:
        with copy.open("wb") as target:
            bucket.copy_to(fid, target)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # GridOut's own reads took the server's default batch: 101 chunks, 25 MB, twice over.
    assert peak < 3 * storage.BATCH_BYTES, f"peak {peak / 2**20:.1f} MiB of Python allocations"
    assert copy.read_bytes() == payload

    mongo_client[database_name]["fs.chunks"].delete_one({"files_id": ObjectId(fid), "n": 7})
    with pytest.raises(gridfs.errors.CorruptGridFile, match="chunk 7 is missing"):
        with (tmp_path / "broken.bin").open("wb") as target:
            bucket.copy_to(fid, target)
