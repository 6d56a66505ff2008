"""2. End to end: upload start to email received, per file, with where the time went."""
from __future__ import annotations

import dataclasses
import logging
import os
import time

from bench import profiles
from bench.context import Failed
from bench.findings import Finding
from bench.jobs import JobMemory, JobRun, run_job
from mp3common import storage

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class GridfsTiming:
    """One GridFS write of a file and one read back, timed by the bench itself."""

    write_seconds: float | None
    read_seconds: float | None
    read_error: str | None


@dataclasses.dataclass(frozen=True)
class Split:
    """Where one job's time went, in seconds (see measure)."""

    upload: float | None
    queue_wait: float | None
    fetch_from_gridfs: float | None
    convert: float | None
    store: float | None
    notify: float | None


@dataclasses.dataclass(frozen=True)
class EndToEndFigure:
    ok: bool
    error: str | None
    total_seconds: float | None
    split_seconds: Split
    upload_body_sent_seconds: float | None
    upload_after_body_seconds: float | None
    accepted_seconds: float | None
    fetch_and_convert_seconds: float | None
    bare_ffmpeg_seconds: float | None
    ratio_to_bare_ffmpeg: float | None
    gridfs_write_seconds: float | None
    gridfs_read_seconds: float | None
    gridfs_read_error: str | None
    baseline_seconds: float | None  # bare ffmpeg plus one GridFS write of the file
    ratio_to_baseline: float | None
    mp3_check: str | None
    memory: JobMemory | None


def measure(context, convert) -> dict[str, EndToEndFigure]:
    """Upload start to email received, per file, with where the time went.

    The split comes from the job's step timestamps (GET /jobs/<id>) and the client's clock:
      upload      upload start -> steps.uploaded (body sent, ffprobe, GridFS write, job insert)
      queue wait  steps.uploaded -> steps.picked_up (publish, broker, converter takes it)
      fetch       the GridFS read of the video: no timestamp separates it from the conversion, so
                  the bench times a GridFS read of the same file itself (see measure_gridfs)
      convert     steps.picked_up -> steps.converted, less that fetch
      store       steps.converted -> steps.stored (the MP3 written to GridFS)
      notify      steps.stored -> the email's arrival in the SMTP sink
    The baseline of the 10-minute target, bare ffmpeg plus one GridFS write of the file, is
    measured in the same run, by the convert figure (``convert``).
    """
    figures = {}
    for name in context.plan.files:
        source = context.videos[name]
        gridfs = measure_gridfs(context, source)
        bare_seconds = None if isinstance(convert, Failed) or name not in convert else convert[name].bare_ffmpeg_seconds
        # Generous but bounded: three times what the parts should take, plus a minute.
        budget = 60 + 3 * ((bare_seconds or 60) + 2 * gridfs.write_seconds)
        run = run_job(context, source, timeout=budget)
        if run.error is not None and run.job_id is not None:
            # A job that never finished leaves its video in GridFS, and FerretDB scans every chunk
            # of the bucket for each GridFS read and delete: a 1 GB leftover would slow the
            # bench's later jobs by minutes.
            context.system.delete_jobs([run.job_id])
        figure = figures[name] = end_to_end_figure(run, gridfs, bare_seconds)
        logger.info("end to end %s: %s", name, figure.total_seconds or figure.error)
    return figures


def measure_gridfs(context, source) -> GridfsTiming:
    """Time one GridFS write of ``source`` and one read back, with the code the gateway and the
    converter use (mp3common.storage), in a database apart that is dropped after: dropping is
    instant, where deleting a large blob from FerretDB takes minutes."""
    client = storage.connect(context.system.mongo_uri, timeout_seconds=30)
    database = f"bench_gridfs_{os.getpid()}"
    bucket = storage.Bucket(client, database)
    write_seconds = read_seconds = read_error = None
    try:
        with open(source, "rb") as video:
            start = time.perf_counter()
            fid = bucket.put(video, source.name, {"job_id": "bench-gridfs", "owner_id": -1, "filename": source.name})
            write_seconds = round(time.perf_counter() - start, 3)
        try:
            with open(context.scratch / "gridfs-read", "wb") as target:
                start = time.perf_counter()
                bucket.copy_to(fid, target)
                read_seconds = round(time.perf_counter() - start, 3)
        except Exception as error:  # noqa: BLE001 - the failure is the finding
            read_error = f"{type(error).__name__}: {error}"
    finally:
        client.drop_database(database)
        client.close()
        (context.scratch / "gridfs-read").unlink(missing_ok=True)
    return GridfsTiming(write_seconds=write_seconds, read_seconds=read_seconds, read_error=read_error)


def end_to_end_figure(run: JobRun, gridfs: GridfsTiming, bare_seconds) -> EndToEndFigure:
    steps = run.steps or {}

    def between(start, end):
        return round(end - start, 3) if start is not None and end is not None else None

    fetch = gridfs.read_seconds
    fetch_and_convert = between(steps.get("picked_up"), steps.get("converted"))
    split = Split(
        upload=between(run.started_at, steps.get("uploaded")),
        queue_wait=between(steps.get("uploaded"), steps.get("picked_up")),
        fetch_from_gridfs=fetch if fetch_and_convert is not None else None,
        convert=round(fetch_and_convert - fetch, 3) if fetch_and_convert is not None and fetch is not None else None,
        store=between(steps.get("converted"), steps.get("stored")),
        notify=between(steps.get("stored"), run.email_at),
    )
    total = between(run.started_at, run.email_at)
    baseline = round(bare_seconds + gridfs.write_seconds, 3) if bare_seconds is not None else None
    return EndToEndFigure(
        ok=run.error is None,
        error=run.error,
        total_seconds=total,
        split_seconds=split,
        upload_body_sent_seconds=between(run.started_at, run.body_sent_at),
        upload_after_body_seconds=between(run.body_sent_at, steps.get("uploaded")),
        accepted_seconds=between(run.started_at, run.accepted_at),
        fetch_and_convert_seconds=fetch_and_convert,
        bare_ffmpeg_seconds=bare_seconds,
        ratio_to_bare_ffmpeg=round(total / bare_seconds, 3) if total and bare_seconds else None,
        gridfs_write_seconds=gridfs.write_seconds,
        gridfs_read_seconds=gridfs.read_seconds,
        gridfs_read_error=gridfs.read_error,
        baseline_seconds=baseline,
        ratio_to_baseline=round(total / baseline, 3) if total and baseline else None,
        mp3_check=run.mp3_check,
        memory=run.memory,
    )


def profile_miss(context, figures, results_dir, *, name) -> Finding:
    """If the job failed, its error is the finding. If it was slow: the same upload again, with
    py-spy on the gateway (all workers) and on the converter, idle threads included."""
    end_to_end = figures.end_to_end
    figure = None if isinstance(end_to_end, Failed) else end_to_end.get(name)
    if figure is None or not figure.ok:
        why = figure.error if figure else getattr(end_to_end, "error", None)
        gridfs_read = (figure.gridfs_read_error or figure.gridfs_read_seconds) if figure else None
        return Finding(notes=[f"The {name} job did not complete: {why}",
                              f"GridFS read of the same file by the bench: {gridfs_read}"])
    stems = {"gateway": results_dir / f"profile-end-to-end-{name}-gateway",
             "converter": results_dir / f"profile-end-to-end-{name}-converter"}
    recordings = {
        "gateway": profiles.Recording.of_pid(context.system.gateway.pid, stems["gateway"].with_suffix(".folded.txt"),
                                             idle=True, subprocesses=True),
        "converter": profiles.Recording.of_pid(context.system.converters[0].pid,
                                               stems["converter"].with_suffix(".folded.txt"), idle=True),
    }
    time.sleep(1)  # py-spy attaches
    try:
        run = run_job(context, context.videos[name], timeout=max(120, 3 * (figure.total_seconds or 60)))
    finally:
        folded = {part: recording.stop() for part, recording in recordings.items()}
    roots = {"gateway": ("upload", "gateway/uploads.py"),
             "converter": ("ConversionWorker.handle", "converter/worker.py")}
    files, summaries = [], {}
    for part, root in roots.items():
        profiles.render_flame_graph(folded[part], stems[part].with_suffix(".svg"),
                                    f"{part}: {root[0]}() during the {name} upload (wall time)", root)
        files += [stems[part].with_suffix(".svg").name, folded[part].name]
        summaries[part] = profiles.summarize(folded[part], root)
    rerun = end_to_end_figure(run, GridfsTiming(write_seconds=figure.gridfs_write_seconds,
                                                read_seconds=figure.gridfs_read_seconds, read_error=None),
                              figure.bare_ffmpeg_seconds)
    return Finding(files=files, profiles=summaries,
                   notes=[f"Run under the profiler: {rerun.total_seconds} s in total, "
                          f"split {dataclasses.asdict(rerun.split_seconds)}."])
