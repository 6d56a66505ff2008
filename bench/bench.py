"""`make bench`: how fast, how bounded and how well measured the converter pipeline is, against
the targets of the tracker issue "Fast, bounded, measured".

Run it through bench/run.sh, which installs what the bench needs (bench/requirements.txt, wrk)
and starts the local stack. Then this module:

1. makes its corpus with ffmpeg (bench/corpus.py, once, into the git-ignored bench/corpus/);
2. starts the four services as real processes on loopback, with a vhost, a database, keys and
   an SMTP sink of their own (bench/system.py), and registers a user;
3. measures one figure per function below, in the order of results.md: the convert step, end to
   end, memory, throughput and the gateway;
4. compares each figure with its target and, for every MISS, profiles the cause (py-spy, psutil);
5. writes results.json, results.md and chart.png (bench/report.py).

`--smoke` runs every step on the smallest file, once, with small batches: tests/bench runs it to
keep the bench itself working. Its figures say nothing about speed.

Every wait has a deadline, and the processes, vhost and database the bench made are removed
however it ends (Ctrl-C included).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import functools
import logging
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pymongo
import pymongo.errors

from bench import corpus, profiles, report, system
from bench.client import Client, MailWatcher, step_times
from bench.sampling import CpuAccount, RssSampler
from converter.worker import ProgressThrottle
from mp3common import jobs as pipeline_jobs
from mp3common import media, storage

logger = logging.getLogger("bench")

BENCH_DIR = Path(__file__).resolve().parent
CORPUS_DIR = BENCH_DIR / "corpus"
DEFAULT_RESULTS_DIR = BENCH_DIR / "results"
MB = 1024 * 1024

# The same settings as the converter's default preset (common/mp3common/media.py): LAME VBR quality 2.
BARE_FFMPEG_SETTINGS = ["-map", "0:a:0", "-vn", "-c:a", "libmp3lame", "-q:a", "2", "-ar", "44100", "-ac", "2"]
FFMPEG_TIMEOUT_SECONDS = 900
# Deleting a large video may scan a whole GridFS bucket in FerretDB; it must still end.
CLEAN_UP_QUERY_TIMEOUT_SECONDS = 900
WRK_LUA = '-- Every request carries the bench user\'s token.\nwrk.headers["Authorization"] = "Bearer {token}"\n'


@dataclass(frozen=True)
class Plan:
    """How much of each measurement a run does."""

    mode: str
    files: tuple  # corpus names, smallest first
    convert_iterations: dict
    target_file: str  # the end-to-end target's file
    large_file: str  # the memory target's large file
    throughput_uploads: int
    throughput_clients: int
    wrk_seconds: int
    # How many other videos the bucket holds for each timed GridFS read (a throughput miss's finding).
    bucket_fills: tuple = (0, 10, 20)
    wrk_threads: int = 2
    wrk_connections: int = 32


FULL = Plan(mode="full", files=("30s", "10min", "60min", "1gb"),
            convert_iterations={"30s": 5, "10min": 5, "60min": 1, "1gb": 5},
            target_file="10min", large_file="1gb",
            throughput_uploads=40, throughput_clients=8, wrk_seconds=10)
# In a smoke run the smallest file stands in for every role, so results.json has the same shape.
SMOKE = Plan(mode="smoke", files=(corpus.SMALLEST,), convert_iterations={corpus.SMALLEST: 1},
             target_file=corpus.SMALLEST, large_file=corpus.SMALLEST,
             throughput_uploads=4, throughput_clients=2, wrk_seconds=2, bucket_fills=(0, 2))


# In the order they are measured and reported.
FIGURES = ("convert", "throughput", "gateway", "end_to_end", "memory")


def main(argv=None):
    options = parse_args(argv)
    # The bench's own progress at INFO; the libraries (pika, matplotlib) only when they warn.
    logging.basicConfig(level=logging.WARNING, format="[bench] %(asctime)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stdout)
    logger.setLevel(logging.INFO)
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the clean-up below runs.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    plan = SMOKE if options.smoke else FULL
    results_dir = options.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    # Profiles are written only for this run's misses; an earlier run's must not linger beside them.
    for stale in results_dir.glob("profile-*"):
        stale.unlink()
    started = time.monotonic()
    machine = machine_info()
    logger.info("%s run on %s cores, load average %s", plan.mode, machine["nproc"], machine["load_average_start"])

    videos = corpus.ensure(plan.files, CORPUS_DIR)
    work_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    figures, targets, findings = {}, [], {}
    created_jobs = []  # the jobs the bench uploaded, in order
    try:
        with system.running(system.Stack.from_env(), work_dir) as running:
            user = Client.register(running.gateway_url)
            scratch = work_dir / "scratch"
            scratch.mkdir()
            context = Context(running, user, MailWatcher(running.mail_dir), videos, plan, scratch, created_jobs)
            try:
                # Throughput and the gateway go before the large files: a job the converter cannot
                # finish would leave its video in the shared GridFS meanwhile, and slow them down.
                wanted = set(options.only or FIGURES)
                if wanted & {"convert", "end_to_end", "memory"}:
                    figures["convert"] = attempt("convert step", measure_convert_step, context)
                if "throughput" in wanted:
                    figures["throughput"] = attempt("throughput", measure_throughput, context)
                if "gateway" in wanted:
                    figures["gateway"] = attempt("gateway", measure_gateway, context)
                if wanted & {"end_to_end", "memory"}:
                    figures["end_to_end"] = attempt("end to end", measure_end_to_end, context, figures["convert"])
                if "memory" in wanted:
                    figures["memory"] = attempt("memory", measure_memory, context, figures["end_to_end"])

                targets = judge(figures, plan)
                for missed in (target for target in targets
                               if target["verdict"] == "MISS" and target["value"] is not None):
                    findings[missed["id"]] = attempt(f"profile of {missed['id']}", profile_miss, context, missed,
                                                     figures, results_dir)
            finally:
                logger.info("stopping the services")
    except BaseException:
        print_service_logs(work_dir)
        raise
    finally:
        if options.keep_work_dir:
            logger.info("work directory kept: %s", work_dir)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)

    logger.info("stopped; writing the results")
    machine["load_average_end"] = os.getloadavg()
    machine["bench_seconds"] = round(time.monotonic() - started, 1)
    report.write(results_dir, plan=plan, machine=machine, corpus=describe_corpus(videos), figures=figures,
                 targets=targets, findings=findings)
    for target in targets:
        logger.info("%-4s %s: %s (target %s)", target["verdict"], target["title"], target["shown"],
                    target["target_shown"])
    logger.info("results in %s (%.0f s)", results_dir, machine["bench_seconds"])
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="smallest file only, one iteration, small batches (for tests/bench)")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR,
                        help="where results.json, results.md, chart.png and profiles go")
    parser.add_argument("--only", action="append", choices=FIGURES,
                        help="measure this figure alone (repeatable), and what it is computed from; "
                             "the others' targets read 'not measured'")
    parser.add_argument("--keep-work-dir", action="store_true",
                        help="keep the services' logs and scratch files (printed at the end)")
    return parser.parse_args(argv)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@dataclass
class Context:
    """What every measurement works with."""

    system: system.System
    user: Client
    mail: MailWatcher
    videos: dict
    plan: Plan
    scratch: Path
    created_jobs: list
    gateway_job_id: str | None = None


def attempt(what, measure, *args):
    """Run one measurement; a failure is recorded in its figure rather than losing the others."""
    logger.info("measuring: %s", what)
    try:
        return measure(*args)
    except Exception as error:  # reported in results.json as the figure's error
        logger.exception("%s failed", what)
        return {"error": f"{type(error).__name__}: {error}"}


# ---------------------------------------------------------------------------------------------
# 1. The convert step
# ---------------------------------------------------------------------------------------------

def measure_convert_step(context):
    """The converter's conversion of a local file (media.extract_mp3, with its progress callback
    and the MediaInfo the gateway's probe kept in the job, as converter/worker.py calls it)
    against bare ffmpeg with the same settings.

    The two alternate, so that a burst of load from elsewhere on the machine hits both alike; the
    figure is the median of each. ffprobe, which the gateway runs on every upload (and the
    converter only for a job without that MediaInfo), is timed alone as well.
    Next to the wall time, the CPU time of the child processes (ffmpeg, ffprobe): on a shared
    machine it tells extra work from time spent waiting for a core.
    """
    figures = {}
    for name in context.plan.files:
        source = context.videos[name]
        _read_through(source)  # both sides then read the file from the page cache
        probed = media.probe(str(source))  # at upload time, by the gateway
        runs = {"bare": [], "converter": [], "probe": []}
        for _ in range(context.plan.convert_iterations[name]):
            runs["bare"].append(_timed(functools.partial(bare_ffmpeg, source, context.scratch / "bare.mp3")))
            runs["converter"].append(_timed(functools.partial(converter_extract, source,
                                                              context.scratch / "converter.mp3", probed)))
            runs["probe"].append(_timed(functools.partial(media.probe, str(source))))
        wall = {side: statistics.median(seconds for seconds, _ in values) for side, values in runs.items()}
        cpu = {side: statistics.median(cpu_seconds for _, cpu_seconds in values) for side, values in runs.items()}
        figures[name] = {
            "iterations": len(runs["bare"]),
            "bare_ffmpeg_seconds": round(wall["bare"], 3),
            "converter_seconds": round(wall["converter"], 3),
            "ffprobe_seconds": round(wall["probe"], 3),
            "ratio": round(wall["converter"] / wall["bare"], 3),
            "bare_ffmpeg_cpu_seconds": round(cpu["bare"], 3),
            "converter_cpu_seconds": round(cpu["converter"], 3),
            "ffprobe_cpu_seconds": round(cpu["probe"], 3),
            "cpu_ratio": round(cpu["converter"] / cpu["bare"], 3),
            "bare_ffmpeg_all_seconds": [round(seconds, 3) for seconds, _ in runs["bare"]],
            "converter_all_seconds": [round(seconds, 3) for seconds, _ in runs["converter"]],
        }
        logger.info("convert %s: bare %.2fs, converter %.2fs (x%.3f)", name, figures[name]["bare_ffmpeg_seconds"],
                    figures[name]["converter_seconds"], figures[name]["ratio"])
    return figures


def bare_ffmpeg(source, target):
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(source),
                    *BARE_FFMPEG_SETTINGS, "-f", "mp3", str(target)], check=True, timeout=FFMPEG_TIMEOUT_SECONDS)


def converter_extract(source, target, info):
    throttle = ProgressThrottle()
    media.extract_mp3(str(source), str(target), on_progress=throttle.due, info=info)


def _timed(action):
    """(wall seconds, CPU seconds of the child processes it ran and waited for)."""
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    action()
    wall = time.perf_counter() - start
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (children_after.ru_utime - children_before.ru_utime) + (children_after.ru_stime - children_before.ru_stime)
    return wall, cpu


def _read_through(path):
    with open(path, "rb") as video:
        while video.read(16 * MB):
            pass


# ---------------------------------------------------------------------------------------------
# 2. End to end
# ---------------------------------------------------------------------------------------------

def measure_end_to_end(context, convert):
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
    measured in the same run.
    """
    figures = {}
    for name in context.plan.files:
        source = context.videos[name]
        gridfs = measure_gridfs(context, source)
        bare_seconds = convert[name]["bare_ffmpeg_seconds"] if name in convert else None
        # Generous but bounded: three times what the parts should take, plus a minute.
        budget = 60 + 3 * ((bare_seconds or 60) + 2 * gridfs["write_seconds"])
        run = run_job(context, source, timeout=budget)
        if run.error is not None and run.job_id is not None:
            # A job that never finished leaves its video in GridFS, and FerretDB scans every chunk
            # of the bucket for each GridFS read and delete: a 1 GB leftover would slow the
            # bench's later jobs by minutes.
            delete_jobs(context.system.mongo_uri, [run.job_id])
        figures[name] = end_to_end_figure(run, gridfs, bare_seconds)
        logger.info("end to end %s: %s", name, figures[name].get("total_seconds") or figures[name]["error"])
    return figures


def measure_gridfs(context, source):
    """Time one GridFS write of ``source`` and one read back, with the code the gateway and the
    converter use (mp3common.storage), in a database apart that is dropped after: dropping is
    instant, where deleting a large blob from FerretDB takes minutes."""
    client = storage.connect(context.system.mongo_uri, timeout_seconds=30)
    database = f"bench_gridfs_{os.getpid()}"
    bucket = storage.Bucket(client, database)
    figure = {"write_seconds": None, "read_seconds": None, "read_error": None}
    try:
        with open(source, "rb") as video:
            start = time.perf_counter()
            fid = bucket.put(video, source.name, {"job_id": "bench-gridfs", "owner_id": -1, "filename": source.name})
            figure["write_seconds"] = round(time.perf_counter() - start, 3)
        try:
            with open(context.scratch / "gridfs-read", "wb") as target:
                start = time.perf_counter()
                bucket.copy_to(fid, target)
                figure["read_seconds"] = round(time.perf_counter() - start, 3)
        except Exception as error:  # noqa: BLE001 - the failure is the finding
            figure["read_error"] = f"{type(error).__name__}: {error}"
    finally:
        client.drop_database(database)
        client.close()
        (context.scratch / "gridfs-read").unlink(missing_ok=True)
    return figure


@dataclass
class JobRun:
    """One upload followed to its email."""

    name: str
    started_at: float
    job_id: str | None = None
    body_sent_at: float | None = None
    accepted_at: float | None = None
    email_at: float | None = None
    steps: dict | None = None
    error: str | None = None
    mp3_check: str | None = None
    memory: dict | None = None


def run_job(context, source, timeout):
    """Upload ``source`` and wait for its email, sampling the services' memory meanwhile."""
    running = context.system
    groups = {"gateway worker": running.gateway_workers,
              "converter": lambda: [converter.pid for converter in running.converters]}
    dead_letters_before = running.dead_letter_count()
    run = JobRun(name=source.name, started_at=time.time())
    job_id = None
    with RssSampler(groups) as sampler:
        time.sleep(0.25)  # a few samples of the idle services first
        try:
            upload = context.user.upload(source)
        except Exception as error:  # noqa: BLE001 - the failure is the figure
            run.error = f"upload failed: {error}"
        else:
            job_id = run.job_id = upload.job_id
            context.created_jobs.append(job_id)
            run.started_at, run.body_sent_at, run.accepted_at = (upload.started_at, upload.body_sent_at,
                                                                 upload.accepted_at)
            run.email_at, run.error = wait_for_email(context, job_id, dead_letters_before, timeout)
    if job_id is not None:
        job = context.user.job(job_id)
        run.steps = step_times(job)
        if run.error is None:
            run.mp3_check = check_mp3(context, job, source)
    steps = run.steps or {}
    phases = [
        ("upload", run.started_at, steps.get("uploaded")),
        ("queue wait", steps.get("uploaded"), steps.get("picked_up")),
        ("fetch and convert", steps.get("picked_up"), steps.get("converted")),
        ("store", steps.get("converted"), steps.get("stored")),
        ("notify", steps.get("stored"), run.email_at),
    ]
    run.memory = {name: sampler.summary(name, phases) for name in groups}
    return run


def wait_for_email(context, job_id, dead_letters_before, timeout):
    """Return (arrival time, None), or (None, why it will not come)."""
    deadline = time.monotonic() + timeout
    next_check = time.monotonic() + 1
    while True:
        arrival = context.mail.poll().get(job_id)
        if arrival is not None:
            return arrival, None
        if time.monotonic() > deadline:
            return None, f"no email within {timeout:.0f}s"
        if time.monotonic() > next_check:
            next_check = time.monotonic() + 2
            job = context.user.job(job_id)
            if job["state"] == "failed":
                return None, f"job failed: {job['error']}"
            if context.system.dead_letter_count() > dead_letters_before:
                return None, f"a service gave up (message dead-lettered): {last_error(context.system)}"
        time.sleep(0.05)


def last_error(running):
    """The last exception line in the workers' logs: what made them give up."""
    for worker in [*running.converters, running.services["notification"]]:
        for line in reversed(worker.log_lines()):
            if re.search(r"\b\w+(Error|Exception)\b: ", line):
                return f"{worker.name}: {line.strip()[:400]}"
    return "no exception in the workers' logs"


def check_mp3(context, job, source):
    """Download the MP3 and compare its length with the source's: a fast wrong answer is no answer."""
    target = context.scratch / "downloaded.mp3"
    try:
        content_type = context.user.download(job["mp3_fid"], target)
        mp3 = media.probe(str(target))
        expected = media.probe(str(source)).duration_seconds
        if content_type != "audio/mpeg" or mp3.audio_codec != "mp3" or abs(mp3.duration_seconds - expected) > 1:
            return f"wrong MP3: {content_type}, {mp3.audio_codec}, {mp3.duration_seconds:.1f}s for {expected:.1f}s"
        return "ok"
    except Exception as error:  # noqa: BLE001 - recorded next to the figure
        return f"download failed: {type(error).__name__}: {str(error)[:300]}"
    finally:
        target.unlink(missing_ok=True)


def end_to_end_figure(run, gridfs, bare_seconds):
    steps = run.steps or {}

    def between(start, end):
        return round(end - start, 3) if start is not None and end is not None else None

    fetch = gridfs["read_seconds"]
    fetch_and_convert = between(steps.get("picked_up"), steps.get("converted"))
    split = {
        "upload": between(run.started_at, steps.get("uploaded")),
        "queue_wait": between(steps.get("uploaded"), steps.get("picked_up")),
        "fetch_from_gridfs": fetch if fetch_and_convert is not None else None,
        "convert": round(fetch_and_convert - fetch, 3) if fetch_and_convert is not None and fetch is not None else None,
        "store": between(steps.get("converted"), steps.get("stored")),
        "notify": between(steps.get("stored"), run.email_at),
    }
    total = between(run.started_at, run.email_at)
    baseline = round(bare_seconds + gridfs["write_seconds"], 3) if bare_seconds is not None else None
    return {
        "ok": run.error is None,
        "error": run.error,
        "total_seconds": total,
        "split_seconds": split,
        "upload_body_sent_seconds": between(run.started_at, run.body_sent_at),
        "upload_after_body_seconds": between(run.body_sent_at, steps.get("uploaded")),
        "accepted_seconds": between(run.started_at, run.accepted_at),
        "fetch_and_convert_seconds": fetch_and_convert,
        "bare_ffmpeg_seconds": bare_seconds,
        "ratio_to_bare_ffmpeg": round(total / bare_seconds, 3) if total and bare_seconds else None,
        "gridfs_write_seconds": gridfs["write_seconds"],
        "gridfs_read_seconds": gridfs["read_seconds"],
        "gridfs_read_error": gridfs["read_error"],
        "baseline_seconds": baseline,
        "ratio_to_baseline": round(total / baseline, 3) if total and baseline else None,
        "mp3_check": run.mp3_check,
        "memory": run.memory,
    }


# ---------------------------------------------------------------------------------------------
# 3. Memory
# ---------------------------------------------------------------------------------------------

def measure_memory(context, end_to_end):
    """Peak RSS of the gateway worker and of the converter while the large file and the smallest
    were uploaded and converted (sampled every 50 ms during the end-to-end runs above).

    `peak_mb` is the Python process alone; `peak_with_children_mb` adds, at the same instant, the
    children it runs (the worker's ffprobe, the converter's ffmpeg), as a container limit would.
    """
    small, large = corpus.SMALLEST, context.plan.large_file
    figure = {"small_file": small, "large_file": large, "files": {}}
    for name in dict.fromkeys((small, large)):
        if "error" in end_to_end or name not in end_to_end:
            raise RuntimeError(f"no end-to-end run of {name} to take the memory figure from")
        run = end_to_end[name]
        figure["files"][name] = {
            **run["memory"],
            # The gateway's figure stands once the upload is in; the converter's needs the whole job.
            "upload_completed": run["split_seconds"]["upload"] is not None,
            "job_completed": run["ok"],
        }
    for component in ("gateway worker", "converter"):
        small_peak = figure["files"][small][component]["peak_with_children_mb"]
        large_peak = figure["files"][large][component]["peak_with_children_mb"]
        figure[f"{component} large/small"] = round(large_peak / small_peak, 3)
    return figure


# ---------------------------------------------------------------------------------------------
# 4. Throughput
# ---------------------------------------------------------------------------------------------

def measure_throughput(context):
    """Jobs per minute, and p50/p95 of upload-to-email latency, for a batch of uploads of the
    smallest file from concurrent clients: once with one converter process, once with two."""
    plan = context.plan
    source = context.videos[corpus.SMALLEST]
    runs = {}
    for converters in (1, 2):
        extra = [context.system.add_converter() for _ in range(converters - len(context.system.converters))]
        first_job = len(context.created_jobs)
        try:
            runs[str(converters)] = run_batch(context, source, plan.throughput_uploads, plan.throughput_clients)
        finally:
            # Jobs still queued when the batch's time ran out must not be the next batch's work,
            # and their videos must not stay in GridFS, where FerretDB would scan them on every
            # later job's read and delete.
            runs.setdefault(str(converters), {})["messages_purged"] = context.system.purge_video_queue()
            for converter in extra:
                context.system.remove_converter(converter)
            delete_jobs(context.system.mongo_uri, context.created_jobs[first_job:])
        logger.info("throughput with %d converter(s): %.1f jobs/min", converters,
                    runs[str(converters)]["jobs_per_minute"])
    return {
        "uploads": plan.throughput_uploads,
        "clients": plan.throughput_clients,
        "file": corpus.SMALLEST,
        "runs": runs,
        "speedup": round(runs["2"]["jobs_per_minute"] / runs["1"]["jobs_per_minute"], 3),
    }


def run_batch(context, source, uploads, clients):
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

    cpu = CpuAccount(cpu_components(context.system))
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
    if not done:
        raise RuntimeError(f"no job of the batch finished; upload errors: {errors[:3]}")
    latencies = sorted(arrivals[upload.job_id] - upload.started_at for upload in done)
    first_start = min(upload.started_at for upload in accepted)
    last_email = max(arrivals[upload.job_id] for upload in done)
    return {
        "converters": len(context.system.converters),
        "jobs_done": len(done),
        "upload_errors": len(errors),
        "jobs_lost": len(accepted) - len(done),
        "wall_seconds": round(last_email - first_start, 3),
        "jobs_per_minute": round(len(done) / (last_email - first_start) * 60, 2),
        "latency_p50_seconds": round(percentile(latencies, 50), 3),
        "latency_p95_seconds": round(percentile(latencies, 95), 3),
        "cpu_seconds": cpu_seconds,
    }


def cpu_components(running):
    """What the CPU account of a throughput run is split into (pid, with live descendants)."""
    stack = running.stack

    def pids(*values, deep=False):
        return [(value, deep) for value in values if value]

    return {
        "gateway (master and workers)": lambda: pids(running.gateway.pid, *running.gateway_workers()),
        "converters (with ffmpeg)": lambda: pids(*(converter.pid for converter in running.converters)),
        "notification": lambda: pids(running.services["notification"].pid),
        "MongoDB-protocol server (the bench's own)": lambda: pids(running.mongo.pid, deep=True),
        # The stack's broker also serves everyone else's tests on this machine.
        "RabbitMQ (shared)": lambda: pids(stack.server_pid("rabbitmq"), deep=True),
        # The bench's clients, and wrk once it has exited (a reaped child).
        "bench (clients, wrk)": lambda: pids(os.getpid()),
    }


def percentile(sorted_values, percent):
    """Linear interpolation between the closest ranks (numpy's default)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    position = (len(sorted_values) - 1) * percent / 100
    lower = int(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


# ---------------------------------------------------------------------------------------------
# 5. The gateway
# ---------------------------------------------------------------------------------------------

def measure_gateway(context):
    """Requests per second and latency of an authenticated GET /jobs/<id>, from wrk on loopback,
    for a fixed time with a fixed number of connections."""
    upload = context.user.upload(context.videos[corpus.SMALLEST])
    context.created_jobs.append(upload.job_id)
    context.gateway_job_id = upload.job_id
    # Converted before the load starts, so that no conversion shares the cores with the requests.
    wait_for_email(context, upload.job_id, context.system.dead_letter_count(), timeout=300)
    figure = run_wrk(context, upload.job_id, context.plan.wrk_seconds)
    cpu, requests = figure["cpu_seconds"], figure["requests"]
    figure["cpu_ms_per_request"] = {
        name: round(1000 * seconds / requests, 3) for name, seconds in cpu.items()
        if seconds is not None and requests and not name.startswith("machine")
    }
    figure["database_ceiling"] = database_ceiling(context.system.mongo_uri, upload.job_id, context.plan.wrk_seconds)
    logger.info("gateway: the database alone answers %.0f lookups/s",
                figure["database_ceiling"]["lookups_per_second"])
    return figure


def database_ceiling(mongo_uri, job_id, seconds):
    """The most GET /jobs/<id> could reach here: the job read by _id straight from the
    MongoDB-protocol server by one client process per core, with no HTTP, token or JSON."""
    processes = os.cpu_count() or 1
    with concurrent.futures.ProcessPoolExecutor(processes) as pool:
        counts = list(pool.map(_lookups, [mongo_uri] * processes, [job_id] * processes, [seconds] * processes))
    return {"processes": processes, "seconds": seconds, "lookups_per_second": round(sum(counts) / seconds, 1)}


def _lookups(mongo_uri, job_id, seconds):
    """How many times one process reads the job by _id in ``seconds`` (in a pool's process)."""
    client = storage.connect(mongo_uri)
    try:
        job_store = pipeline_jobs.Jobs(client)
        job_store.get(job_id)  # connected before the clock starts
        count, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            job_store.get(job_id)
            count += 1
        return count
    finally:
        client.close()


def run_wrk(context, job_id, seconds):
    plan = context.plan
    script = context.scratch / "authorization.lua"
    script.write_text(WRK_LUA.format(token=context.user.token))
    url = f"{context.system.gateway_url}/jobs/{job_id}"
    booted_before = _workers_booted(context.system)
    cpu = CpuAccount(cpu_components(context.system))
    cpu.start()
    output = subprocess.run(
        # --timeout: a slow answer (the gateway gives up on MongoDB after 5 s) counts in the
        # latency instead of vanishing as a wrk timeout.
        ["wrk", f"-t{plan.wrk_threads}", f"-c{plan.wrk_connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
         "-s", str(script), url],
        check=True, capture_output=True, text=True, timeout=seconds + 60,
    ).stdout
    figure = parse_wrk(output)
    figure.update(seconds=seconds, threads=plan.wrk_threads, connections=plan.wrk_connections,
                  gateway_workers_started_during_run=_workers_booted(context.system) - booted_before,
                  cpu_seconds=cpu.stop())
    logger.info("gateway: %.0f req/s, p99 %.1f ms", figure["requests_per_second"], figure["latency_p99_ms"])
    return figure


def _workers_booted(running):
    # gunicorn logs each worker it starts; max_requests makes it replace workers under load.
    return sum("Booting worker" in line for line in running.gateway.log_lines())


def parse_wrk(output):
    def duration_ms(text):
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit], 3)

    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.MULTILINE))
    requests_line = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(requests_line.group(1)),
        "latency_p50_ms": duration_ms(percentiles["50"]),
        "latency_p90_ms": duration_ms(percentiles["90"]),
        "latency_p99_ms": duration_ms(percentiles["99"]),
        "non_2xx_responses": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------

def judge(figures, plan):
    """Each target with its figure, PASS or MISS, and by how much."""
    targets = []

    def target(target_id, title, value, comparison, limit, unit, missing_reason=None):
        if value is None:
            verdict, margin = "MISS", f"not measured: {missing_reason or 'see the figure'}"
        elif comparison == "<=":
            verdict = "PASS" if value <= limit else "MISS"
            margin = f"{_percent(value / limit - 1)} {'under' if value <= limit else 'over'} the limit"
        else:
            verdict = "PASS" if value >= limit else "MISS"
            margin = f"{_percent(value / limit - 1)} {'above' if value >= limit else 'short of'} the target"
        targets.append({
            "id": target_id, "title": title, "value": value, "comparison": comparison, "limit": limit,
            "unit": unit, "verdict": verdict, "margin": margin,
            "shown": "-" if value is None else f"{value:g}{unit}",
            "target_shown": f"{comparison} {limit:g}{unit}",
        })

    convert = figures.get("convert", {})
    for name in plan.files:
        figure = convert.get(name, {})
        target(f"convert_{name}", f"Convert step, {name} file: converter / bare ffmpeg", figure.get("ratio"),
               "<=", 1.05, "x", convert.get("error"))

    end_to_end = figures.get("end_to_end", {}).get(plan.target_file, {})
    target(f"end_to_end_{plan.target_file}",
           f"End to end, {plan.target_file} file: upload to email / (bare ffmpeg + GridFS write)",
           end_to_end.get("ratio_to_baseline"), "<=", 1.5, "x",
           end_to_end.get("error") or figures.get("end_to_end", {}).get("error"))

    memory = figures.get("memory", {})
    large_file = memory.get("files", {}).get(plan.large_file, {})
    for component, completed_step in (("gateway worker", "upload_completed"), ("converter", "job_completed")):
        reason = memory.get("error")
        if not reason and not large_file.get(completed_step):
            reason = f"the {plan.large_file} {'upload' if component == 'gateway worker' else 'job'} did not complete"
        large = (large_file.get(component) or {}) if not reason else {}
        slug = component.replace(" ", "_")
        target(f"memory_{slug}_peak", f"Peak RSS of the {component} with children, {plan.large_file} file",
               large.get("peak_with_children_mb"), "<=", 150, " MB", reason)
        target(f"memory_{slug}_growth", f"Peak RSS of the {component}, {plan.large_file} / {corpus.SMALLEST} file",
               memory.get(f"{component} large/small") if not reason else None, "<=", 1.2, "x", reason)

    throughput = figures.get("throughput", {})
    target("throughput_speedup", "Throughput: jobs/min with 2 converters / with 1", throughput.get("speedup"),
           ">=", 1.8, "x", throughput.get("error"))

    gateway = figures.get("gateway", {})
    target("gateway_requests_per_second", "Gateway: authenticated GET /jobs/<id> per second",
           gateway.get("requests_per_second"), ">=", 1000, " req/s", gateway.get("error"))
    return targets


def _seconds(value):
    return "- (restarted during the run)" if value is None else f"{value:.1f} s"


def _percent(fraction):
    percent = abs(fraction) * 100
    return f"{percent:.1f}%" if percent < 10 else f"{percent:.0f}%"


# ---------------------------------------------------------------------------------------------
# Profiles of the misses
# ---------------------------------------------------------------------------------------------

def profile_miss(context, target, figures, results_dir):
    """Find out, by measuring, where the time or the memory of a missed target goes."""
    kind = target["id"].split("_")[0]
    if kind == "convert":
        return profile_convert_step(context, target["id"].removeprefix("convert_"), figures["convert"], results_dir)
    if kind == "end":
        return profile_end_to_end(context, context.plan.target_file, figures["end_to_end"], results_dir)
    if kind == "memory":
        return memory_finding(target, figures.get("memory", {}), context.plan)
    if kind == "throughput":
        return throughput_finding(context, figures["throughput"])
    return profile_gateway(context, figures["gateway"], results_dir)


def profile_convert_step(context, name, convert, results_dir):
    """py-spy (idle threads included: the time is wall time) over extract_mp3 on the file."""
    source = context.videos[name]
    stem = results_dir / f"profile-convert-{name}"
    script = (
        "import sys\nfrom bench.bench import converter_extract\nfrom pathlib import Path\nfrom mp3common import media\n"
        "converter_extract(Path(sys.argv[1]), Path(sys.argv[2]), media.probe(sys.argv[1]))\n"
    )
    recording = profiles.Recording.of_command(
        [sys.executable, "-c", script, str(source), str(context.scratch / "profiled.mp3")],
        stem.with_suffix(".folded.txt"), idle=True)
    recording.wait(timeout=FFMPEG_TIMEOUT_SECONDS)
    folded = recording.stop()
    root = ("extract_mp3", "mp3common/media.py")
    profiles.render_flame_graph(folded, stem.with_suffix(".svg"), f"extract_mp3 on the {name} file (wall time)", root)
    figure = convert[name]
    return {
        "profile": profiles.summarize(folded, root),
        "files": [stem.with_suffix(".svg").name, folded.name],
        "notes": [
            f"Wall time: extract_mp3 took {figure['converter_seconds'] - figure['bare_ffmpeg_seconds']:+.3f} s "
            f"against bare ffmpeg (medians of {figure['iterations']} runs each); ffprobe alone (run by the gateway at "
            f"upload, not part of this step) took {figure['ffprobe_seconds']:.3f} s.",
            f"CPU time of the children: {figure['converter_cpu_seconds']:.3f} s (ffmpeg) against "
            f"{figure['bare_ffmpeg_cpu_seconds']:.3f} s (ffmpeg), {figure['cpu_ratio']:.3f}x; ffprobe alone "
            f"{figure['ffprobe_cpu_seconds']:.3f} s.",
        ],
    }


def profile_end_to_end(context, name, end_to_end, results_dir):
    """If the job failed, its error is the finding. If it was slow: the same upload again, with
    py-spy on the gateway (all workers) and on the converter, idle threads included."""
    figure = end_to_end.get(name, {})
    if not figure.get("ok"):
        return {"notes": [f"The {name} job did not complete: {figure.get('error') or end_to_end.get('error')}",
                          f"GridFS read of the same file by the bench: "
                          f"{figure.get('gridfs_read_error') or figure.get('gridfs_read_seconds')}"]}
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
        run = run_job(context, context.videos[name], timeout=max(120, 3 * (figure["total_seconds"] or 60)))
    finally:
        folded = {part: recording.stop() for part, recording in recordings.items()}
    roots = {"gateway": ("upload", "gateway/uploads.py"),
             "converter": ("ConversionWorker.handle", "converter/worker.py")}
    finding = {"files": [], "profile": {}, "notes": []}
    for part, root in roots.items():
        profiles.render_flame_graph(folded[part], stems[part].with_suffix(".svg"),
                                    f"{part}: {root[0]}() during the {name} upload (wall time)", root)
        finding["files"] += [stems[part].with_suffix(".svg").name, folded[part].name]
        finding["profile"][part] = profiles.summarize(folded[part], root)
    rerun = end_to_end_figure(run, {"read_seconds": figure["gridfs_read_seconds"], "read_error": None,
                                    "write_seconds": figure["gridfs_write_seconds"]}, figure["bare_ffmpeg_seconds"])
    finding["notes"].append(f"Run under the profiler: {rerun['total_seconds']} s in total, "
                            f"split {rerun['split_seconds']}.")
    return finding


def memory_finding(target, memory, plan):
    """The RSS timeline of the runs: what the process held idle, at its peak, and in which step."""
    if "error" in memory:
        return {"notes": [memory["error"]]}
    component = "gateway worker" if "gateway_worker" in target["id"] else "converter"
    notes = []
    for name in dict.fromkeys((corpus.SMALLEST, plan.large_file)):
        sample = memory["files"][name][component]
        notes.append(
            f"{name} file: idle {sample['idle_mb']} MB before the upload; the process alone peaked at "
            f"{sample['peak_mb']} MB (during {sample['peak_phase']}), with its children at "
            f"{sample['peak_with_children_mb']} MB (during {sample['peak_with_children_phase']})."
        )
    return {"notes": notes}


def throughput_finding(context, throughput):
    """Where the CPU went while two converters worked: is there a core left for the second one?
    And what one job's GridFS read of its video costs as the bucket fills up with queued ones."""
    if "error" in throughput:
        return {"notes": [throughput["error"]]}
    notes = []
    for converters, run in throughput["runs"].items():
        cpu = run["cpu_seconds"]
        capacity = cpu["machine capacity (cores x wall)"]
        shares = ", ".join(f"{name} {_seconds(seconds)}" for name, seconds in cpu.items()
                           if not name.startswith("machine"))
        notes.append(f"{converters} converter(s): the machine was busy {cpu['machine busy (all cores)']:.1f} of "
                     f"{capacity:.1f} core-seconds ({100 * cpu['machine busy (all cores)'] / capacity:.0f}%): "
                     f"{shares}.")
    reads = gridfs_read_by_bucket_size(context, context.videos[corpus.SMALLEST], queued=context.plan.bucket_fills)
    notes.append("One GridFS read of the 30s video (as the converter fetches it) by the number of other videos in "
                 "the bucket, which is the number of uploads still queued: "
                 + ", ".join(f"{queued}: {read['seconds']:.2f} s, of which the MongoDB-protocol server "
                             f"{read['server_cpu_seconds']:.2f} CPU-s" for queued, read in reads.items()) + ".")
    return {"notes": notes, "gridfs_reads": reads}


def gridfs_read_by_bucket_size(context, video, queued):
    """Time one read of ``video`` from a bucket also holding each count of copies of it, in a
    database of the bench's own (dropped afterwards): does a read's cost grow with the bucket?"""
    client = storage.connect(context.system.mongo_uri)
    database = f"bench_scan_{os.getpid()}"
    bucket = storage.Bucket(client, database)
    server = CpuAccount({"server": lambda: [(context.system.mongo.pid, True)]})
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
                seconds, _ = _timed(lambda: bucket.copy_to(fid, sink))
            reads[count] = {"seconds": round(seconds, 3), "server_cpu_seconds": server.stop()["server"]}
        return reads
    finally:
        client.drop_database(database)
        client.close()


def profile_gateway(context, gateway, results_dir):
    """The same wrk run again under py-spy on the gateway's master and workers, idle samples
    included, inside Flask's wsgi_app: where a request's time goes. The CPU account of the
    measured run says what the rest of the machine (the MongoDB-protocol server, wrk) did."""
    if "error" in gateway:
        return {"notes": [gateway["error"]]}
    stem = results_dir / "profile-gateway-get-job"
    root = ("Flask.wsgi_app", "flask/app.py")
    recording = profiles.Recording.of_pid(context.system.gateway.pid, stem.with_suffix(".folded.txt"), idle=True,
                                          subprocesses=True)
    time.sleep(1)  # py-spy attaches
    try:
        rerun = run_wrk(context, context.gateway_job_id, context.plan.wrk_seconds)
    finally:
        folded = recording.stop()
    profiles.render_flame_graph(folded, stem.with_suffix(".svg"),
                                "gateway under wrk, GET /jobs/<id>: request wall time", root)
    cpu = gateway["cpu_seconds"]
    return {
        "profile": profiles.summarize(folded, root),
        "files": [stem.with_suffix(".svg").name, folded.name],
        "notes": [
            f"Under the profiler: {rerun['requests_per_second']:.0f} req/s, p99 {rerun['latency_p99_ms']} ms, "
            f"{rerun['non_2xx_responses']} non-2xx.",
            f"CPU during the measured {gateway['seconds']} s run: "
            + ", ".join(f"{name} {_seconds(seconds)}" for name, seconds in cpu.items()) + ".",
            f"gunicorn started {gateway['gateway_workers_started_during_run']} new worker(s) during the measured run "
            "(max_requests recycling).",
            *_ceiling_notes(gateway),
        ],
    }


def _ceiling_notes(gateway):
    per_request, ceiling = gateway.get("cpu_ms_per_request", {}), gateway.get("database_ceiling")
    if not per_request or not ceiling:
        return []
    database = per_request.get("MongoDB-protocol server (the bench's own)")
    notes = ["CPU per request (ms): " + ", ".join(f"{name} {ms:.2f}" for name, ms in per_request.items()) + "."]
    if database:
        notes.append(f"At {database:.2f} ms of the MongoDB-protocol server's CPU per lookup, 1,000 requests/s would "
                     f"need {database:.2f} of the {os.cpu_count()} cores for the database alone.")
    notes.append(f"Ceiling: {ceiling['processes']} processes reading the job by _id straight from the database, with "
                 f"no HTTP at all, made {ceiling['lookups_per_second']:.0f} lookups/s; the gateway served "
                 f"{gateway['requests_per_second'] / ceiling['lookups_per_second']:.0%} of that.")
    return notes


# ---------------------------------------------------------------------------------------------
# The machine, the corpus, clean-up
# ---------------------------------------------------------------------------------------------

def machine_info():
    cpu_model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    ffmpeg_version = subprocess.run(["ffmpeg", "-version"], capture_output=True,
                                    text=True).stdout.split(" Copyright")[0]
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=system.REPO)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                           cwd=system.REPO).stdout.splitlines()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "ffmpeg": ffmpeg_version,
        "commit": git.stdout.strip(),
        "files_changed_since_commit": len(dirty),
        "load_average_start": os.getloadavg(),
    }


def describe_corpus(videos):
    described = {}
    for name, path in videos.items():
        info = media.probe(str(path))
        described[name] = {
            "file": path.name,
            "description": corpus.SPECS[name].description,
            "size_mb": round(path.stat().st_size / MB, 1),
            "duration_seconds": round(info.duration_seconds, 1),
        }
    return described


def delete_jobs(mongo_uri, job_ids):
    """Remove jobs with their videos and MP3s, one query per collection: FerretDB can use no index
    but `_id`, so each GridFS delete scans every chunk of its bucket."""
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=30_000,
                                 socketTimeoutMS=CLEAN_UP_QUERY_TIMEOUT_SECONDS * 1000)
    try:
        jobs_collection = client[pipeline_jobs.JOBS_DB]["jobs"]
        found = list(jobs_collection.find({"_id": {"$in": job_ids}}, {"video_fid": 1, "mp3_fid": 1}))
        for database, field in ((storage.VIDEOS_DB, "video_fid"), (storage.MP3S_DB, "mp3_fid")):
            fids = [storage.parse_fid(job[field]) for job in found if job.get(field)]
            if fids:
                client[database]["fs.chunks"].delete_many({"files_id": {"$in": fids}})
                client[database]["fs.files"].delete_many({"_id": {"$in": fids}})
        jobs_collection.delete_many({"_id": {"$in": job_ids}})
    finally:
        client.close()


def print_service_logs(work_dir):
    """The end of each service's log, for a run that failed."""
    for log in sorted((work_dir / "logs").glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        print(f"--- last lines of {log.name}:", *lines, sep="\n", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
