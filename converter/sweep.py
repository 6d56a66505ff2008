"""The sweep: removes the stored files nothing needs any more.

`python -m converter.sweep` sweeps once and exits (for a Kubernetes CronJob); the converter also
sweeps every SWEEP_INTERVAL_SECONDS on a thread of its own. Every removal is safe to repeat, and
whatever one sweep leaves (because it was cut short, or MongoDB went away) the next one finds
again, so two replicas sweeping at the same moment do no harm.
"""
import datetime
import logging
import sys
from dataclasses import dataclass

from converter.settings import Settings
from mp3common import jobs, lifecycle, storage

logger = logging.getLogger(__name__)


@dataclass
class SweepCounts:
    """How many files one sweep removed, by the reason nothing needed them."""

    # MP3s of done jobs past their retention; the job stays, marked `expired_at`.
    expired_mp3s: int = 0
    # Source videos of done or failed jobs (the converter deletes them; a crash can leave one).
    finished_videos: int = 0
    # Videos no job owns: an upload whose job was never written, or whose job was deleted.
    unowned_videos: int = 0
    # MP3s no job keeps: the job was deleted or failed, or it kept the MP3 that another
    # delivery of it stored.
    unowned_mp3s: int = 0
    # Chunks of uploads that never finished, in either bucket: a process killed while writing.
    partial_uploads: int = 0


def sweep(job_store, videos, mp3s, *, now, retention, grace):
    """Remove expired MP3s and left-over files; return the SweepCounts.

    ``retention`` (a timedelta) is how long an MP3 is kept after it was stored. ``grace`` is how
    old a file must be before it counts as left over: a video is stored a moment before its job
    is written, and an MP3 a moment before its job points to it.
    """
    counts = SweepCounts(expired_mp3s=expire_mp3s(job_store, mp3s, stored_before=now - retention))
    cutoff = now - grace
    for page in videos.pages_uploaded_before(cutoff):
        owners = job_store.find_many(job_id for _fid, job_id in page)
        for fid, job_id in page:
            job = owners.get(job_id)
            if job is None or job["video_fid"] != fid:
                videos.delete(fid)
                counts.unowned_videos += 1
            elif job["state"] in jobs.FINISHED_STATES:
                videos.delete(fid)
                counts.finished_videos += 1

    for page in mp3s.pages_uploaded_before(cutoff):
        owners = job_store.find_many(job_id for _fid, job_id in page)
        for fid, job_id in page:
            job = owners.get(job_id)
            # A job still without an MP3 may be about to record this one (a redelivery after a
            # crash): its MP3s are judged once it has one, or has failed.
            if job is None or job["state"] == jobs.FAILED or job.get("mp3_fid") not in (None, fid):
                mp3s.delete(fid)
                counts.unowned_mp3s += 1

    # The costly step on FerretDB, which reads every chunk to answer it; MongoDB reads an index.
    counts.partial_uploads = videos.delete_abandoned_chunks(cutoff) + mp3s.delete_abandoned_chunks(cutoff)
    return counts


def expire_mp3s(job_store, mp3s, stored_before):
    """Delete the MP3s of done jobs stored before ``stored_before``, mark the jobs; return how many."""
    expired = 0
    # The blob first, the mark second: if the sweep stops between the two, the job is found
    # again next time, and deleting the blob twice is harmless.
    for job in job_store.mp3s_stored_before(stored_before):
        mp3s.delete(job["mp3_fid"])
        job_store.mark_expired(job["_id"])
        expired += 1
    return expired


def sweep_now(job_store, videos, mp3s, settings):
    """Sweep with the retention and grace of ``settings``, log what was removed and return it."""
    counts = sweep(
        job_store, videos, mp3s,
        now=jobs.now(),
        retention=datetime.timedelta(seconds=settings.mp3_retention_seconds),
        grace=datetime.timedelta(seconds=settings.sweep_grace_seconds),
    )
    logger.info("sweep done: %s", counts)
    return counts


def sweep_every(interval_seconds, sweep_once, stopped):
    """Call ``sweep_once()`` every ``interval_seconds`` until the threading.Event ``stopped`` is set.

    The first sweep waits one interval, so a converter that crashes and restarts in a loop does
    not sweep in a loop too. A failed sweep is logged and the next one tries again.
    """
    while not stopped.wait(interval_seconds):
        try:
            sweep_once()
        except storage.UNAVAILABLE as error:
            logger.warning("sweep skipped, MongoDB is not reachable: %r", error)
        except Exception:  # the thread must outlive one bad sweep
            if stopped.is_set():
                return  # the process is closing its MongoDB client under us
            logger.exception("sweep failed; trying again in %d s", interval_seconds)


def main():
    """Sweep once and exit: 0 when done, 1 when MongoDB could not be reached."""
    settings = lifecycle.read_settings(Settings, "sweep")

    mongo_client = storage.connect(settings.mongodb_uri)
    try:
        sweep_now(
            jobs.Jobs(mongo_client),
            storage.Bucket(mongo_client, storage.VIDEOS_DB),
            storage.Bucket(mongo_client, storage.MP3S_DB),
            settings,
        )
    except storage.UNAVAILABLE as error:
        logger.error("MongoDB is not reachable: %r", error)
        return 1
    finally:
        mongo_client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
