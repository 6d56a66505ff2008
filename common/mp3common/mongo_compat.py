"""Where this code is written for FerretDB v1 as well as MongoDB: the local stack's stand-in
(tests, `make run`, the compose test) speaks MongoDB's protocol but not all of its engine.

Every other module reads like ordinary pymongo code and calls these few functions where the two
servers differ. Each one is also right, and about as fast, on a real MongoDB; the docstring says
what FerretDB does that made it necessary, so it can go once the stand-in does.
"""
from pymongo.errors import DuplicateKeyError, OperationFailure

# GridFS's default chunk, 255 KiB. FerretDB ignores the 16 MiB batch limit and sends a find's
# first 101 documents in one reply: with 1 MiB chunks that reply (~106 MB) is over pymongo's
# maximum message size, and every file over ~46 MiB became unreadable.
GRIDFS_CHUNK_BYTES = 255 * 1024
# Chunks per round trip when a file is read: a few MB in memory whatever the file's size.
READ_BATCH_CHUNKS = 16
# MongoDB's error code for a feature the server lacks; FerretDB 1.x answers so for TTL indexes.
NOT_IMPLEMENTED = 238


def read_chunks(chunks, files_id):
    """Yield ``(n, data)`` of a GridFS file's chunks in order, READ_BATCH_CHUNKS per round trip.

    GridOut's own reads ask for the default first batch (101 chunks, 25 MB), which FerretDB sends
    as one reply, and its plain read() fails on files over ~26 MB there. On MongoDB a bounded
    batch is simply a bounded batch.
    """
    cursor = chunks.find({"files_id": files_id}, {"n": 1, "data": 1}, sort=[("n", 1)], batch_size=READ_BATCH_CHUNKS)
    with cursor:
        for chunk in cursor:
            yield chunk["n"], chunk["data"]


def find_by_id_matching(collection, document_id, **fields):
    """The document with ``_id`` if its ``fields`` have these values, else None.

    Found by _id alone and compared here: FerretDB answers a filter on _id from its primary key,
    but reads the whole collection for {_id, owner_id} (77 ms against 1 ms, bench/). MongoDB
    answers both from the _id index.
    """
    document = collection.find_one({"_id": document_id})
    if document is None or any(document.get(name) != value for name, value in fields.items()):
        return None
    return document


def insert_first(collection, document):
    """Insert ``document`` unless one with its _id exists; return the one that is stored.

    Of several callers racing with the same _id, the first insert wins and the others read it.
    This is how a choice is made once (which MP3 a job keeps, which job an Idempotency-Key
    started): MongoDB would apply a conditional update atomically too, but FerretDB reads and
    then writes, so two updates could both win. A unique _id holds on both.
    """
    try:
        collection.insert_one(document)
        return document
    except DuplicateKeyError:
        return collection.find_one({"_id": document["_id"]})


def ensure_expiry_index(collection, field):
    """Index ``field`` so that documents expire at its time; return whether the server does it.

    MongoDB deletes them itself (a TTL index with expireAfterSeconds=0). FerretDB has no TTL
    indexes: then a plain index is made and False returned, and the caller deletes what expired.
    """
    try:
        collection.create_index(field, expireAfterSeconds=0)
        return True
    except OperationFailure as error:
        if error.code != NOT_IMPLEMENTED:
            raise
    collection.create_index(field)
    return False
