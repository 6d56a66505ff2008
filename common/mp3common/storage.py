"""File blobs in MongoDB GridFS: source videos in database `videos`, results in `mp3s`.

Bytes always move in chunks between a file object and GridFS; nothing here reads a whole file
into memory, and a write that fails half-way removes the chunks it already wrote.
"""
import logging
import shutil

import gridfs
import gridfs.synchronous.grid_file
import pymongo
from bson import ObjectId
from bson.errors import InvalidId

from mp3common import metrics, mongo_compat

logger = logging.getLogger(__name__)

VIDEOS_DB = "videos"
MP3S_DB = "mp3s"

CHUNK_SIZE = mongo_compat.GRIDFS_CHUNK_BYTES
COPY_BUFFER = CHUNK_SIZE

# pymongo (4.7 and later) holds up to 48 MB of a file's chunks before writing them with one
# insert_many, then encodes them into a second message as large: close to 100 MB per upload in
# flight, whatever the file (bench/: a gateway worker went from 63 to 150 MB on a 400 MB upload).
# pymongo offers no public setting for it (checked in 4.20: GridFSBucket, GridIn and put() take
# a chunk size but no batch size; GridIn reads only the module constants that PYTHON-4146 added),
# so its constant is lowered, for the whole process:
# 16 chunks (4 MB) per insert_many keep memory flat; a 100 MB put took 9.6 s against 9.2 s.
# Reads take the same 16 chunks per round trip (mongo_compat.read_chunks).
if not hasattr(gridfs.synchronous.grid_file, "_UPLOAD_BUFFER_SIZE"):  # pragma: no cover
    raise ImportError("pymongo's GridFS no longer has _UPLOAD_BUFFER_SIZE: revisit common/mp3common/storage.py")
BATCH_BYTES = mongo_compat.READ_BATCH_CHUNKS * CHUNK_SIZE
gridfs.synchronous.grid_file._UPLOAD_BUFFER_SIZE = BATCH_BYTES

# Errors meaning "MongoDB is not reachable right now" as opposed to "this request is wrong".
UNAVAILABLE = (pymongo.errors.ConnectionFailure, pymongo.errors.ServerSelectionTimeoutError)


class FileNotFound(LookupError):
    """No blob with that fid."""


def connect(uri, timeout_seconds=5):
    """Return a MongoClient; pymongo connects lazily, on first use, so this never blocks."""
    timeout_ms = int(timeout_seconds * 1000)
    return pymongo.MongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        tz_aware=True,
    )


def ping(client):
    """Raise one of UNAVAILABLE unless MongoDB answers."""
    client.admin.command("ping")


def parse_fid(fid):
    """Return the ObjectId for a fid string, or raise FileNotFound for anything malformed."""
    try:
        return ObjectId(fid)
    except (InvalidId, TypeError):
        raise FileNotFound(fid) from None


class Bucket:
    """One GridFS bucket (one database) holding one kind of file."""

    def __init__(self, client, database_name):
        self._database = client[database_name]
        self._bytes_written = metrics.GRIDFS_WRITTEN.labels(bucket=database_name)
        self._bytes_read = metrics.GRIDFS_READ.labels(bucket=database_name)
        self._bucket = gridfs.GridFSBucket(self._database, chunk_size_bytes=CHUNK_SIZE)
        # The bucket's two collections, read directly by the sweep's queries below.
        self._files = self._database["fs.files"]
        self._chunks = self._database["fs.chunks"]

    def put(self, source, filename, metadata):
        """Copy the file object ``source`` into GridFS and return the new fid as a string."""
        upload = self._bucket.open_upload_stream(filename, metadata=metadata)
        try:
            shutil.copyfileobj(source, upload, COPY_BUFFER)
            upload.close()
        except BaseException:
            # GridIn leaves written chunks behind on error; abort() deletes them.
            _abort_quietly(upload)
            raise
        self._bytes_written.inc(upload.length)
        return str(upload._id)

    def open(self, fid):
        """Return a readable GridOut (with ``.length``, ``.filename``, ``.metadata``) for ``fid``."""
        try:
            return self._bucket.open_download_stream(parse_fid(fid))
        except gridfs.errors.NoFile:
            raise FileNotFound(fid) from None

    def copy_to(self, fid, target):
        """Write the blob ``fid`` into the file object ``target`` chunk by chunk."""
        with self.open(fid) as stored:
            for data in self.chunks(stored):
                target.write(data)

    def chunks(self, stored):
        """Yield the bytes of ``stored`` (a GridOut from open()) one chunk at a time, in order.

        The checks are GridOut's: every chunk present, in order, adding up to the file's length.
        """
        received = 0
        for expected, (n, data) in enumerate(mongo_compat.read_chunks(self._chunks, stored._id)):
            if n != expected:
                raise gridfs.errors.CorruptGridFile(f"{stored._id}: chunk {expected} is missing")
            received += len(data)
            self._bytes_read.inc(len(data))
            yield data
        if received != stored.length:
            raise gridfs.errors.CorruptGridFile(f"{stored._id}: {received} of {stored.length} bytes")

    def delete(self, fid):
        """Delete ``fid``; deleting a blob that is already gone is not an error."""
        try:
            self._bucket.delete(parse_fid(fid))
        except (gridfs.errors.NoFile, FileNotFound):
            logger.info("blob %s was already deleted", fid)

    def pages_uploaded_before(self, moment, page_size=500):
        """Yield lists of ``(fid, job_id)`` for the blobs stored before ``moment``, oldest fid first.

        Each page is a query of its own, keyed on the last fid seen, so the caller may delete
        blobs between pages without holding a cursor open. ``job_id`` is None if the metadata
        has none.
        """
        last_id = None
        while True:
            query = {"uploadDate": {"$lt": moment}}
            if last_id is not None:
                query["_id"] = {"$gt": last_id}
            page = list(self._files.find(query, {"metadata.job_id": 1}).sort("_id", 1).limit(page_size))
            if not page:
                return
            yield [(str(stored["_id"]), (stored.get("metadata") or {}).get("job_id")) for stored in page]
            last_id = page[-1]["_id"]

    def delete_abandoned_chunks(self, started_before):
        """Delete the chunks of uploads begun before ``started_before`` that never finished.

        GridFS writes a file's chunks first and its files document when the upload closes, so a
        process killed half-way leaves chunks that no fid reaches. An upload's fid is an ObjectId
        made when it began, which dates the chunks. Returns how many uploads were removed.
        """
        started = self._chunks.distinct("files_id", {"files_id": {"$lt": ObjectId.from_datetime(started_before)}})
        finished = {stored["_id"] for stored in self._files.find({"_id": {"$in": started}}, {"_id": 1})}
        abandoned = [files_id for files_id in started if files_id not in finished]
        if abandoned:
            self._chunks.delete_many({"files_id": {"$in": abandoned}})
            logger.info("removed the chunks of %d unfinished uploads", len(abandoned))
        return len(abandoned)


def _abort_quietly(upload):
    try:
        upload.abort()
    except Exception:  # the original error is the one worth raising
        logger.warning("could not remove the chunks of an aborted upload", exc_info=True)
