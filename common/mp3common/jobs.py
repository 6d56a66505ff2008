"""The jobs collection: one document per upload, owned by its uploader, moved through its states.

Every state change is a single conditional update, so a message delivered twice (after a crash
or a broker restart) cannot move a job backwards or announce it twice.
"""
import datetime
import uuid

from pymongo import DESCENDING, ReturnDocument

from mp3common import mongo_compat

JOBS_DB = "jobs"

QUEUED = "queued"
CONVERTING = "converting"
DONE = "done"
FAILED = "failed"
FINISHED_STATES = (DONE, FAILED)


def new_job_id():
    return uuid.uuid4().hex


def now():
    return datetime.datetime.now(datetime.timezone.utc)


class JobNotFound(LookupError):
    """No job with that id (or not one the caller owns: the two look the same on purpose)."""


class Jobs:
    """Reads and state changes of jobs, on the ``jobs`` collection of database ``jobs``.

    Another ``database_name`` keeps a test's jobs apart from everyone else's.
    """

    def __init__(self, client, database_name=JOBS_DB):
        database = client[database_name]
        self._jobs = database["jobs"]
        # An idempotency key maps to the job it created; the key pair is the _id, so the unique
        # index every collection has makes a second job for the same key impossible.
        self._idempotency_keys = database["idempotency_keys"]
        # Which MP3 a job keeps, keyed the same way by the job id (see record_mp3).
        self._mp3_choices = database["mp3_choices"]

    def ensure_indexes(self):
        self._jobs.create_index([("owner_id", 1), ("created_at", DESCENDING)])
        # For the sweep's search for MP3s past their retention.
        self._jobs.create_index([("state", 1), ("steps.stored", 1)])

    def create(self, *, job_id, owner_id, email, filename, preset, video_fid, correlation_id, idempotency_key=None,
               media=None):
        """Insert a queued job. ``media`` is what the upload's probe found (a MediaInfo as a dict),
        kept so that the converter need not probe the file again."""
        created_at = now()
        job = {
            "_id": job_id,
            "owner_id": owner_id,
            "email": email,
            "filename": filename,
            "preset": preset,
            "media": media,
            "state": QUEUED,
            "progress": 0,
            "video_fid": video_fid,
            "mp3_fid": None,
            "error": None,
            "correlation_id": correlation_id,
            "idempotency_key": idempotency_key,
            "created_at": created_at,
            "updated_at": created_at,
            "steps": {"uploaded": created_at},
        }
        self._jobs.insert_one(job)
        return job

    def get(self, job_id):
        job = self._jobs.find_one({"_id": job_id})
        if job is None:
            raise JobNotFound(job_id)
        return job

    def get_owned(self, job_id, owner_id):
        job = mongo_compat.find_by_id_matching(self._jobs, job_id, owner_id=owner_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def list_owned(self, owner_id, *, limit, offset):
        cursor = (
            self._jobs.find({"owner_id": owner_id})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return list(cursor)

    def find_many(self, job_ids):
        """The jobs among ``job_ids`` that exist, as a dict by job id."""
        return {job["_id"]: job for job in self._jobs.find({"_id": {"$in": list(job_ids)}})}

    def mp3s_stored_before(self, moment):
        """Done jobs whose MP3 was stored before ``moment`` and has not expired yet."""
        query = {"state": DONE, "steps.stored": {"$lt": moment}, "mp3_fid": {"$ne": None}, "expired_at": None}
        return list(self._jobs.find(query, {"mp3_fid": 1}))

    def count_owned(self, owner_id):
        return self._jobs.count_documents({"owner_id": owner_id})

    def delete(self, job_id):
        self._jobs.delete_one({"_id": job_id})
        self._idempotency_keys.delete_many({"job_id": job_id})
        self._mp3_choices.delete_one({"_id": job_id})

    def claim_idempotency_key(self, owner_id, key, job_id):
        """Bind ``key`` to ``job_id``; return the job id the key already had, or None if new."""
        claim = mongo_compat.insert_first(
            self._idempotency_keys, {"_id": f"{owner_id}:{key}", "job_id": job_id, "created_at": now()}
        )
        return None if claim["job_id"] == job_id else claim["job_id"]

    def release_idempotency_key(self, owner_id, key):
        self._idempotency_keys.delete_one({"_id": f"{owner_id}:{key}"})

    def _update(self, job_id, condition, changes, step=None):
        timestamp = now()
        changes = {**changes, "updated_at": timestamp}
        if step:
            changes[f"steps.{step}"] = timestamp
        return self._jobs.find_one_and_update(
            {"_id": job_id, **condition},
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )

    def mark_converting(self, job_id):
        """Move a queued (or interrupted) job to converting; None if it already finished."""
        return self._update(job_id, {"state": {"$in": [QUEUED, CONVERTING]}}, {"state": CONVERTING}, "picked_up")

    def set_progress(self, job_id, percent):
        self._update(job_id, {"state": CONVERTING}, {"progress": int(percent)})

    def mark_fetched(self, job_id):
        """Record that the converter has the video on its disk, about to be converted."""
        self._update(job_id, {"state": CONVERTING}, {}, "fetched")

    def mark_converted(self, job_id):
        self._update(job_id, {"state": CONVERTING}, {}, "converted")

    def record_mp3(self, job_id, mp3_fid):
        """Attach ``mp3_fid`` unless the job already has one; return the job as stored.

        Two deliveries of one job may convert it at the same time; the first MP3 recorded is the
        one the job keeps, chosen in `mp3_choices` by the first insert (mongo_compat.insert_first).
        """
        kept = mongo_compat.insert_first(
            self._mp3_choices, {"_id": job_id, "mp3_fid": mp3_fid, "created_at": now()}
        )["mp3_fid"]
        # Every delivery writes the same fid, so these updates cannot undo one another.
        updated = self._update(job_id, {"mp3_fid": None}, {"mp3_fid": kept}, "stored")
        try:
            return updated if updated is not None else self.get(job_id)
        except JobNotFound:
            # Deleted by its owner while converting: its choice of MP3 must not outlive it.
            self._mp3_choices.delete_one({"_id": job_id})
            raise

    def mark_done(self, job_id):
        return self._update(job_id, {"state": {"$in": [QUEUED, CONVERTING]}}, {"state": DONE, "progress": 100})

    def mark_failed(self, job_id, reason):
        return self._update(job_id, {"state": {"$in": [QUEUED, CONVERTING]}}, {"state": FAILED, "error": reason})

    def mark_notified(self, job_id):
        """Record the email as sent and return the job; None when it had been recorded already."""
        return self._update(job_id, {"steps.notified": {"$exists": False}}, {}, "notified")

    def mark_expired(self, job_id):
        """Record that the job's MP3 was removed at the end of its retention; the job stays done."""
        self._update(job_id, {"state": DONE, "expired_at": None}, {"expired_at": now()})
