"""GET /jobs, GET /jobs/<id> and DELETE /jobs/<id>: a user's own conversion jobs."""

from __future__ import annotations

from flask import Blueprint, request

from gateway import conversions, services, tokens
from gateway.errors import InvalidParameter

bp = Blueprint("jobs", __name__)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# MongoDB takes skip as a 64-bit integer and fails on anything larger; no one has 2**31 jobs.
MAX_OFFSET = 2**31 - 1


@bp.get("/jobs")
def list_jobs():
    """The caller's jobs, newest first, a page at a time."""
    user = tokens.current_user()
    limit = _int_parameter("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = _int_parameter("offset", 0, minimum=0, maximum=MAX_OFFSET)
    jobs = services.jobs()
    page = jobs.list_owned(user.id, limit=limit, offset=offset)
    return {
        "jobs": [job_json(job) for job in page],
        "total": jobs.count_owned(user.id),
        "limit": limit,
        "offset": offset,
    }


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """One of the caller's jobs; another user's job is 404, the same as a missing one."""
    user = tokens.current_user()
    return job_json(services.jobs().get_owned(job_id, user.id))


@bp.delete("/jobs/<job_id>")
def delete_job(job_id: str):
    """Delete one of the caller's jobs with its video and MP3."""
    conversions.delete_job(tokens.current_user(), job_id)
    return "", 204


def job_json(job: dict) -> dict:
    """The public view of a job document: no owner, email or internal blob ids but the MP3's."""
    mp3_fid = job.get("mp3_fid")
    return {
        "id": job["_id"],
        "state": job["state"],
        "progress": job.get("progress", 0),
        "filename": job["filename"],
        "preset": job.get("preset"),
        "mp3_fid": mp3_fid,
        "error": job.get("error"),
        "created_at": _iso(job.get("created_at")),
        "updated_at": _iso(job.get("updated_at")),
        "steps": {step: _iso(at) for step, at in (job.get("steps") or {}).items()},
        "status_url": f"/jobs/{job['_id']}",
        "download_url": f"/download?fid={mp3_fid}" if mp3_fid else None,
    }


def _iso(moment):
    return moment.isoformat() if moment is not None else None


def _int_parameter(name: str, default: int, minimum: int, maximum: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    value = int(text) if text.isascii() and text.isdigit() else None
    if value is None or not minimum <= value <= maximum:
        raise InvalidParameter(f"{name} must be a whole number, {minimum} to {maximum}.")
    return value
