"""POST /upload: a video in, a queued conversion job out."""

from __future__ import annotations

import os
import time

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import Counter

from gateway import conversions, ratelimits, tokens
from gateway.errors import EmptyFile, InvalidIdempotencyKey, InvalidPreset, MissingFile
from mp3common import filenames, media, metrics

bp = Blueprint("uploads", __name__)

UPLOADS_ACCEPTED = Counter("mp3_uploads_accepted_total", "Uploads that started a conversion job.")
# The reason is the error code of the answer (too_large, unsupported_media, rate_limited ...).
UPLOADS_REFUSED = Counter("mp3_uploads_refused_total", "Uploads answered with an error, by its code.", ["reason"])

MAX_IDEMPOTENCY_KEY_LENGTH = 200


@bp.post("/upload")
def upload():
    """Store the uploaded video and queue it; answer 202 with the job to poll."""
    # The body has not been read yet: it arrives as request.files parses it, below.
    started = time.perf_counter()
    user = tokens.current_user()
    # Counted before the body is read: a user over the limit does not get to send 2 GB first.
    ratelimits.enforce(ratelimits.UPLOAD, user.id)
    idempotency_key = _idempotency_key()
    # Reading request.files parses the body, spooling the file to UPLOAD_DIR (see spooling.py).
    video = request.files.get("file")
    if video is None or not video.filename:
        raise MissingFile()
    preset = request.form.get("preset") or None
    if preset is not None and preset not in media.PRESETS:
        raise InvalidPreset(f"preset must be one of {', '.join(media.PRESETS)}.")
    # The parser wrote the file through a buffer: flush it so fstat and ffprobe see every byte.
    video.stream.flush()
    if os.fstat(video.stream.fileno()).st_size == 0:
        raise EmptyFile()

    submission = conversions.submit_upload(
        user=user,
        video=video.stream,
        filename=filenames.clean(video.filename),
        preset=preset,
        idempotency_key=idempotency_key,
        correlation_id=g.request_id,
        limits=current_app.config["SETTINGS"].media_limits,
    )
    if submission.created:
        metrics.JOB_STEP_DURATION.labels(step="upload").observe(time.perf_counter() - started)
    status_url = f"/jobs/{submission.job_id}"
    body = {"job_id": submission.job_id, "status": submission.state, "status_url": status_url}
    # 202: accepted, conversion to follow. 200: the same Idempotency-Key already made this job.
    return body, 202 if submission.created else 200, {"Location": status_url}


@bp.after_request
def _count_upload(response: Response) -> Response:
    # An Idempotency-Key repeated (200) is the earlier upload's answer, neither new nor refused.
    if request.endpoint == "uploads.upload":
        if response.status_code == 202:
            UPLOADS_ACCEPTED.inc()
        elif response.status_code >= 400:
            UPLOADS_REFUSED.labels(reason=g.get("error_code", "unknown")).inc()
    return response


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters."
        )
    return key
