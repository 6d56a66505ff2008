"""Where a batch's jobs spent their time, step by step, averaged over the batch: from the client's
clock, the job documents' step timestamps (mp3common.jobs: uploaded, picked_up, fetched,
converted, stored), the email's arrival in the SMTP sink, and, for what no timestamp marks (the
converter's work after `stored`, and its wait for the next job), the converter's own log.

The converter logs "converting job <id>" once it has claimed a job and "job <id> done" once it
has marked it done, announced it and deleted its video (converter/worker.py); each converter
writes a log of its own, so with two converters each job's successor on the same one is known.
"""
from __future__ import annotations

import datetime
import re
import statistics
from dataclasses import dataclass, fields

# The plain format's asctime (mp3common.logs), also the `time` of the JSON format: local time.
_LOG_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}")
_CLAIMED = re.compile(r"converting job ([0-9a-f]{32})\b")
_DONE = re.compile(r"job ([0-9a-f]{32}) done\b")


@dataclass(frozen=True)
class JobProfile:
    """Mean seconds per job in each step; None where no job of the batch had both ends."""

    jobs: int
    upload: float | None  # upload start -> its last byte sent (the client's clock)
    probe_and_save: float | None  # last byte sent -> `uploaded`: ffprobe, the GridFS write, the job's insert
    queue: float | None  # `uploaded` -> `picked_up`: publish, the broker, a converter free to take it
    fetch: float | None  # `picked_up` -> `fetched`: the video read from GridFS to the converter's disk
    convert: float | None  # `fetched` -> `converted`: ffmpeg
    store: float | None  # `converted` -> `stored`: the MP3 written to GridFS and recorded
    announce_and_delete: float | None  # `stored` -> "job done" in the converter's log: done, announced, video deleted
    email: float | None  # `stored` -> the email in the SMTP sink (while the converter announces and deletes)
    # "job done" -> "converting job" of the next job on the same converter, already queued by then:
    # the ack, the next delivery, the job's read and claim.
    next_job: float | None

    @classmethod
    def steps(cls):
        """The step names, in the order of a job's path."""
        return tuple(field.name for field in fields(cls) if field.name != "jobs")


@dataclass(frozen=True)
class ConverterEvents:
    """When one converter claimed each job and when it was done with it (unix seconds)."""

    claimed: dict[str, float]
    done: dict[str, float]


def converter_events(log_lines) -> ConverterEvents:
    """The claims and ends of jobs in one converter's log; a line without a time is skipped."""
    claimed, done = {}, {}
    for line in log_lines:
        moment = _LOG_TIME.search(line)
        if moment is None:
            continue
        seconds = datetime.datetime.strptime(moment.group(), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if match := _CLAIMED.search(line):
            claimed.setdefault(match.group(1), seconds)  # a redelivery's second claim is not the start
        elif match := _DONE.search(line):
            done[match.group(1)] = seconds
    return ConverterEvents(claimed=claimed, done=done)


def profile(uploads, steps_by_job, email_at, converters) -> JobProfile:
    """Mean seconds per step over ``uploads`` (bench.client.Upload) whose job has steps.

    ``steps_by_job``: job id -> {step: unix seconds}; ``email_at``: job id -> unix seconds;
    ``converters``: one ConverterEvents per converter that ran during the batch.
    """
    done_at = {job_id: moment for events in converters for job_id, moment in events.done.items()}
    durations = {step: [] for step in JobProfile.steps()}

    def add(step, start, end):
        if start is not None and end is not None:
            durations[step].append(end - start)

    jobs = 0
    for upload in uploads:
        steps = steps_by_job.get(upload.job_id)
        if not steps:
            continue
        jobs += 1
        add("upload", upload.started_at, upload.body_sent_at)
        add("probe_and_save", upload.body_sent_at, steps.get("uploaded"))
        add("queue", steps.get("uploaded"), steps.get("picked_up"))
        add("fetch", steps.get("picked_up"), steps.get("fetched"))
        add("convert", steps.get("fetched"), steps.get("converted"))
        add("store", steps.get("converted"), steps.get("stored"))
        add("announce_and_delete", steps.get("stored"), done_at.get(upload.job_id))
        add("email", steps.get("stored"), email_at.get(upload.job_id))
    for events in converters:
        # Each job's successor on the same converter (the next one it claimed), when it was
        # already waiting in the queue: otherwise the gap is idle time, not the converter's.
        order = sorted(events.claimed, key=events.claimed.get)
        for previous, following in zip(order, order[1:], strict=False):
            finished, uploaded = events.done.get(previous), steps_by_job.get(following, {}).get("uploaded")
            if finished is not None and uploaded is not None and uploaded <= finished:
                add("next_job", finished, events.claimed[following])
    return JobProfile(jobs=jobs, **{step: round(statistics.mean(values), 3) if values else None
                                    for step, values in durations.items()})
