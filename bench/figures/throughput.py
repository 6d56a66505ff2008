"""4. Throughput: jobs per minute and upload-to-email latency for a batch of concurrent uploads,
with one converter process and with two, each as a share of the limit the machine sets, and
where a job's time went (bench/job_profile.py)."""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import statistics
import threading
import time

from bench import corpus, job_profile
from bench.context import Failed
from bench.figures.convert import bare_ffmpeg, timed
from bench.figures.end_to_end import measure_gridfs
from bench.findings import Finding, cpu_seconds_shown
from bench.job_profile import JobProfile
from bench.sampling import Component, CpuAccount, CpuSeconds
from mp3common import jobs, storage

logger = logging.getLogger(__name__)

CONVERTER_COUNTS = (1, 2)


@dataclasses.dataclass(frozen=True)
class BatchRun:
    """One batch with a given number of converters."""

    converters: int
    jobs_done: int
    upload_errors: int
    jobs_lost: int  # accepted, but no email by the batch's deadline
    wall_seconds: float
    jobs_per_minute: float
    latency_p50_seconds: float
    latency_p95_seconds: float
    cpu_seconds: CpuSeconds
    profile: JobProfile
    messages_purged: int | None = None  # still queued at the deadline, purged before the next batch
    limit_jobs_per_minute: float | None = None  # ThroughputLimit.for_converters
    share_of_limit: float | None = None  # jobs_per_minute / limit_jobs_per_minute


@dataclasses.dataclass(frozen=True)
class ThroughputLimit:
    """The most a converter could do here: bare ffmpeg on the clip, plus the store's own write and
    read of it (an empty bucket, mp3common.storage), each measured in the same run."""

    bare_ffmpeg_seconds: float
    store_write_seconds: float
    store_read_seconds: float | None  # None: the read failed (results.json says why, at the end-to-end figure)
    jobs_per_minute_per_converter: float | None

    def for_converters(self, converters):
        """The limit with ``converters`` processes: each takes a core, and there are only so many."""
        if self.jobs_per_minute_per_converter is None:
            return None
        return round(min(converters, os.cpu_count() or 1) * self.jobs_per_minute_per_converter, 2)


@dataclasses.dataclass(frozen=True)
class ThroughputFigure:
    uploads: int
    clients: int
    file: str
    limit: ThroughputLimit
    runs: dict[str, BatchRun]  # by number of converters
    speedup: float  # jobs per minute with 2 converters / with 1


@dataclasses.dataclass(frozen=True)
class GridfsRead:
    """One timed GridFS read of a video, with the MongoDB-protocol server's CPU time meanwhile."""

    seconds: float
    server_cpu_seconds: float | None


def measure(context) -> ThroughputFigure:
    """Jobs per minute, and p50/p95 of upload-to-email latency, for a batch of uploads of the
    smallest file from concurrent clients: once with one converter process, once with two."""
    plan = context.plan
    source = context.videos[corpus.SMALLEST]
    limit = measure_limit(context, source)
    runs = {}
    for converters in CONVERTER_COUNTS:
        extra = [context.system.add_converter() for _ in range(converters - len(context.system.converters))]
        first_job = len(context.created_jobs)
        try:
            run = run_batch(context, source, plan.throughput_uploads, plan.throughput_clients)
        finally:
            # Jobs still queued when the batch's time ran out must not be the next batch's work,
            # and their videos must not stay in GridFS, where FerretDB would scan them on every
            # later job's read and delete.
            purged = context.system.purge_video_queue()
            for converter in extra:
                context.system.remove_converter(converter)
            context.system.delete_jobs(context.created_jobs[first_job:])
        limit_jobs_per_minute = limit.for_converters(converters)
        share = round(run.jobs_per_minute / limit_jobs_per_minute, 3) if limit_jobs_per_minute else None
        runs[str(converters)] = dataclasses.replace(run, messages_purged=purged,
                                                    limit_jobs_per_minute=limit_jobs_per_minute, share_of_limit=share)
        logger.info("throughput with %d converter(s): %.1f jobs/min (limit %s)", converters, run.jobs_per_minute,
                    limit_jobs_per_minute)
    return ThroughputFigure(uploads=plan.throughput_uploads, clients=plan.throughput_clients, file=corpus.SMALLEST,
                            limit=limit, runs=runs,
                            speedup=round(runs["2"].jobs_per_minute / runs["1"].jobs_per_minute, 3))


def measure_limit(context, source) -> ThroughputLimit:
    """Bare ffmpeg's time on the clip (the median of as many runs as the convert figure makes of
    it) and one GridFS write and read of it, as the converter's fetch and the gateway's save."""
    runs = context.plan.convert_iterations[corpus.SMALLEST]
    ffmpeg_seconds = statistics.median(
        timed(functools.partial(bare_ffmpeg, source, context.scratch / "limit.mp3"))[0] for _ in range(runs))
    gridfs = measure_gridfs(context, source)
    per_job = ffmpeg_seconds + gridfs.write_seconds + (gridfs.read_seconds or 0)
    return ThroughputLimit(
        bare_ffmpeg_seconds=round(ffmpeg_seconds, 3), store_write_seconds=gridfs.write_seconds,
        store_read_seconds=gridfs.read_seconds,
        jobs_per_minute_per_converter=round(60 / per_job, 2) if gridfs.read_seconds is not None else None,
    )


def run_batch(context, source, uploads, clients) -> BatchRun:
    """``uploads`` uploads shared among ``clients`` threads, each with its own connection."""
    remaining = list(range(uploads))
    lock = threading.Lock()
    accepted, errors = [], []

    def client_loop(session):
        while True:
            with lock:
                if not remaining:
                    return
                remaining.pop()
            try:
                upload = session.upload(source)
            except Exception as error:  # noqa: BLE001 - counted; the run goes on
                errors.append(str(error)[:300])
                continue
            with lock:
                accepted.append(upload)
                context.created_jobs.append(upload.job_id)

    cpu = CpuAccount(context.system.cpu_components())
    cpu.start()
    threads = [threading.Thread(target=client_loop, args=(context.user.another_session(),), daemon=True)
               for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    # Generous but bounded: a job of this file takes seconds when the stack keeps up.
    deadline = time.monotonic() + 60 + 8 * uploads
    waiting = {upload.job_id for upload in accepted}
    while waiting and time.monotonic() < deadline:
        waiting -= set(context.mail.poll())
        time.sleep(0.1)
    cpu_seconds = cpu.stop()
    arrivals = context.mail.poll()
    done = [upload for upload in accepted if upload.job_id in arrivals]
    profile = job_profile.profile(done, job_steps(context, [upload.job_id for upload in done]), arrivals,
                                  [job_profile.converter_events(converter.log_lines())
                                   for converter in context.system.converters])
    if not done:
        raise RuntimeError(f"no job of the batch finished; upload errors: {errors[:3]}")
    latencies = sorted(arrivals[upload.job_id] - upload.started_at for upload in done)
    first_start = min(upload.started_at for upload in accepted)
    last_email = max(arrivals[upload.job_id] for upload in done)
    return BatchRun(
        converters=len(context.system.converters),
        jobs_done=len(done),
        upload_errors=len(errors),
        jobs_lost=len(accepted) - len(done),
        wall_seconds=round(last_email - first_start, 3),
        jobs_per_minute=round(len(done) / (last_email - first_start) * 60, 2),
        latency_p50_seconds=round(percentile(latencies, 50), 3),
        latency_p95_seconds=round(percentile(latencies, 95), 3),
        cpu_seconds=cpu_seconds,
        profile=profile,
    )


def job_steps(context, job_ids):
    """{job id: {step: unix seconds}}, read in one query from the jobs collection."""
    client = storage.connect(context.system.mongo_uri, timeout_seconds=30)
    try:
        found = jobs.Jobs(client).find_many(job_ids)
    finally:
        client.close()
    return {job_id: {step: moment.timestamp() for step, moment in (job.get("steps") or {}).items() if moment}
            for job_id, job in found.items()}


def percentile(sorted_values, percent):
    """Linear interpolation between the closest ranks (numpy's default)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = (len(sorted_values) - 1) * percent / 100
    lower = int(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


def finding(context, figures, results_dir) -> Finding:
    """Where the CPU went while two converters worked: is there a core left for the second one?
    And what one job's GridFS read of its video costs as the bucket fills up with queued ones."""
    throughput = figures.throughput
    if isinstance(throughput, Failed):
        return Finding(notes=[throughput.error])
    notes = []
    for converters, run in throughput.runs.items():
        cpu = run.cpu_seconds
        shares = ", ".join(f"{component.label} {cpu_seconds_shown(component.seconds)}" for component in cpu.components)
        notes.append(f"{converters} converter(s): the machine was busy {cpu.machine_busy:.1f} of "
                     f"{cpu.machine_capacity:.1f} core-seconds ({100 * cpu.machine_busy / cpu.machine_capacity:.0f}%): "
                     f"{shares}.")
    reads = gridfs_read_by_bucket_size(context, context.videos[corpus.SMALLEST], queued=context.plan.bucket_fills)
    notes.append("One GridFS read of the 30s video (as the converter fetches it) by the number of other videos in "
                 "the bucket, which is the number of uploads still queued: "
                 + ", ".join(f"{queued}: {read.seconds:.2f} s" + _server_share(read) for queued, read in reads.items())
                 + ".")
    return Finding(notes=notes, gridfs_reads=reads)


def _server_share(read):
    if read.server_cpu_seconds is None:
        return ""
    return f", of which the MongoDB-protocol server {read.server_cpu_seconds:.2f} CPU-s"


def gridfs_read_by_bucket_size(context, video, queued) -> dict[int, GridfsRead]:
    """Time one read of ``video`` from a bucket also holding each count of copies of it, in a
    database of the bench's own (dropped afterwards): does a read's cost grow with the bucket?"""
    client = storage.connect(context.system.mongo_uri)
    database = f"bench_scan_{os.getpid()}"
    bucket = storage.Bucket(client, database)
    server_pid = context.system.mongo_pid  # None for a server the bench was given: its CPU is not seen
    server = CpuAccount([Component("server", "MongoDB-protocol server",
                                   lambda: [(server_pid, True)] if server_pid else [])])
    reads, stored = {}, 0
    try:
        with video.open("rb") as source:
            fid = bucket.put(source, video.name, {})
        for count in queued:
            while stored < count:
                with video.open("rb") as source:
                    bucket.put(source, video.name, {})
                stored += 1
            server.start()
            with open(os.devnull, "wb") as sink:
                seconds, _ = timed(lambda: bucket.copy_to(fid, sink))
            server_seconds = server.stop().of("server") if server_pid else None
            reads[count] = GridfsRead(seconds=round(seconds, 3), server_cpu_seconds=server_seconds)
        return reads
    finally:
        client.drop_database(database)
        client.close()
