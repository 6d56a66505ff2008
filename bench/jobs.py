"""One upload followed to its email, as the end-to-end and memory figures (and the profile of an
end-to-end miss) run it: the client's clock, the job's step timestamps, the services' memory
sampled meanwhile, and the MP3 checked at the end."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

from bench.client import step_times
from bench.sampling import MemorySummary, RssSampler
from mp3common import media

# The processes whose memory is sampled during a job, by id, with how results.md names them.
PROCESS_LABELS = {"gateway_worker": "gateway worker", "converter": "converter"}


@dataclass(frozen=True)
class JobMemory:
    """Peak RSS while one job ran: the gateway's largest worker, and the converter."""

    gateway_worker: MemorySummary | None
    converter: MemorySummary | None


@dataclass
class JobRun:
    """One upload followed to its email."""

    name: str
    started_at: float
    job_id: str | None = None
    body_sent_at: float | None = None
    accepted_at: float | None = None
    email_at: float | None = None
    steps: dict[str, float] | None = None
    error: str | None = None
    mp3_check: str | None = None
    memory: JobMemory | None = None


def run_job(context, source, timeout):
    """Upload ``source`` and wait for its email, sampling the services' memory meanwhile."""
    running = context.system
    groups = {"gateway_worker": running.gateway_workers,
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
    run.memory = JobMemory(gateway_worker=sampler.summary("gateway_worker", phases),
                           converter=sampler.summary("converter", phases))
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
