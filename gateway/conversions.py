"""A user's conversion jobs: starting one from an upload, finding its MP3, and removing it.

The routes parse and validate requests; the steps that touch GridFS, the jobs collection and the
broker, and undo each other when a later one fails, are here.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass
from typing import IO

from gateway import services
from gateway.errors import UploadInProgress
from gateway.tokens import User
from mp3common import media, messages, storage
from mp3common.jobs import JobNotFound, new_job_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    """The job an upload started, or the earlier job its Idempotency-Key had already started."""

    job_id: str
    state: str
    created: bool


def submit_upload(*, user: User, video: IO[bytes], filename: str, preset: str | None,
                  idempotency_key: str | None, correlation_id: str, limits: media.Limits) -> Submission:
    """Check the spooled upload, store it, record its job and queue it for conversion.

    Either all three happen or none does: if a later step fails, the earlier ones are undone
    before the error is raised, so a failed upload leaves no blob, no job and no message.
    """
    # Before anything is stored: a file without audio, in a format not allowed or too long is
    # refused with nothing to clean up.
    media_info = media.probe(video.name, limits)

    jobs = services.jobs()
    job_id = new_job_id()
    undo = []  # compensating steps, run newest first if a later step fails
    if idempotency_key is not None:
        earlier_job_id = jobs.claim_idempotency_key(user.id, idempotency_key, job_id)
        if earlier_job_id is not None:
            return _earlier_submission(user, earlier_job_id)
        undo.append(functools.partial(jobs.release_idempotency_key, user.id, idempotency_key))
    try:
        video.seek(0)
        videos = services.videos()
        video_fid = videos.put(video, filename, {"job_id": job_id, "owner_id": user.id, "filename": filename})
        undo.append(functools.partial(videos.delete, video_fid))
        # Registered before the insert: an insert whose reply was lost may still have landed.
        undo.append(functools.partial(jobs.delete, job_id))
        job = jobs.create(job_id=job_id, owner_id=user.id, email=user.email, filename=filename,
                          preset=preset, video_fid=video_fid, correlation_id=correlation_id,
                          idempotency_key=idempotency_key, media=asdict(media_info))
        # The message names the job; the converter reads everything else from the job document.
        with services.publisher() as publisher:
            publisher.publish(messages.VIDEO_QUEUE, messages.job_message(job_id, correlation_id))
    except BaseException:
        _run_undo(undo, job_id)
        raise
    logger.info("queued job %s (%s, video %s) for user %s", job_id, filename, video_fid, user.id)
    return Submission(job_id=job_id, state=job["state"], created=True)


def _earlier_submission(user: User, earlier_job_id: str) -> Submission:
    try:
        job = services.jobs().get_owned(earlier_job_id, user.id)
    except JobNotFound:
        # The key is claimed but its job is not written yet: the first request is still running.
        raise UploadInProgress() from None
    logger.info("Idempotency-Key repeated; answering with job %s", earlier_job_id)
    return Submission(job_id=earlier_job_id, state=job["state"], created=False)


def _run_undo(undo: list, job_id: str) -> None:
    for step in reversed(undo):
        try:
            step()
        except Exception:  # the original error is the one to raise; this one is logged
            logger.warning("could not undo a step of failed upload %s", job_id, exc_info=True)


def open_mp3(fid: str):
    """Open the MP3 ``fid`` for reading (a GridOut), or raise FileNotFound."""
    return services.mp3s().open(fid)


def open_owned_mp3(user: User, fid: str):
    """Open the MP3 ``fid`` if ``user`` uploaded its video; raise FileNotFound otherwise.

    Another user's file is reported exactly like a missing one, so fids cannot be probed. The
    owner is the one the converter wrote into the file's metadata, read along with the file by
    its _id: no search of the jobs collection on a download.
    """
    stored = open_mp3(fid)
    if (stored.metadata or {}).get("owner_id") != user.id:
        stored.close()
        raise storage.FileNotFound(fid)
    return stored


def delete_job(user: User, job_id: str) -> None:
    """Delete one of ``user``'s jobs with its source video and MP3; raise JobNotFound otherwise."""
    jobs = services.jobs()
    job = jobs.get_owned(job_id, user.id)
    # Blobs first, the job last: if a step fails, the job still lists what is left to delete,
    # and the client can simply send the DELETE again.
    services.videos().delete(job["video_fid"])
    if job.get("mp3_fid"):
        services.mp3s().delete(job["mp3_fid"])
    jobs.delete(job_id)
    logger.info("deleted job %s of user %s", job_id, user.id)
