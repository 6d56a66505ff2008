"""The throughput figure's per-job profile (bench/job_profile.py) reads the converter's log and the
job's step timestamps into mean seconds per step: what each step is measured between."""
import datetime

from bench.client import Upload
from bench.job_profile import ConverterEvents, converter_events, profile

FIRST, SECOND, THIRD = ("a" * 32, "b" * 32, "c" * 32)


def log_time(seconds):
    """A unix time as the converter's plain log format writes it (asctime: local time, milliseconds)."""
    moment = datetime.datetime.fromtimestamp(seconds)
    return moment.strftime("%Y-%m-%d %H:%M:%S,") + f"{moment.microsecond // 1000:03d}"


def test_the_converter_log_gives_when_each_job_was_claimed_and_done():
    lines = [
        f"{log_time(1000.25)} INFO converter [{FIRST}] converter.worker: converting job {FIRST} (attempt 1)",
        f"{log_time(1002.5)} INFO converter [{FIRST}] converter.worker: job {FIRST} done: mp3 65f0",
        "a line without a time, from ffmpeg or a traceback",
        f"{log_time(1003.0)} INFO converter [{SECOND}] converter.worker: converting job {SECOND} (attempt 1)",
        # A redelivery claims the job again: the first claim is when the work began.
        f"{log_time(1009.0)} INFO converter [{SECOND}] converter.worker: converting job {SECOND} (attempt 2)",
    ]

    events = converter_events(lines)

    assert events.claimed == {FIRST: 1000.25, SECOND: 1003.0}
    assert events.done == {FIRST: 1002.5}


def test_the_profile_is_the_mean_of_each_step_over_the_jobs():
    uploads = [Upload(FIRST, started_at=0.0, body_sent_at=0.1, accepted_at=1.0),
               Upload(SECOND, started_at=0.0, body_sent_at=0.3, accepted_at=1.2)]
    steps = {
        FIRST: {"uploaded": 1.0, "picked_up": 1.5, "fetched": 2.0, "converted": 3.0, "stored": 3.5},
        SECOND: {"uploaded": 1.2, "picked_up": 4.5, "fetched": 5.0, "converted": 6.0, "stored": 6.5},
    }
    email_at = {FIRST: 3.7, SECOND: 6.9}
    converter = ConverterEvents(claimed={FIRST: 1.5, SECOND: 4.5}, done={FIRST: 4.0, SECOND: 7.0})

    result = profile(uploads, steps, email_at, [converter])

    assert result.jobs == 2
    assert result.upload == 0.2
    assert result.probe_and_save == 0.9
    assert result.queue == 1.9
    assert (result.fetch, result.convert, result.store) == (0.5, 1.0, 0.5)
    assert result.announce_and_delete == 0.5
    assert result.email == 0.3
    # From the first job's "done" to the second's claim, the second having waited since 1.2.
    assert result.next_job == 0.5


def test_a_gap_before_a_job_that_was_not_queued_yet_is_idle_time_not_counted():
    uploads = [Upload(FIRST, 0.0, 0.1, 1.0), Upload(SECOND, 10.0, 10.1, 11.0)]
    steps = {FIRST: {"uploaded": 1.0, "picked_up": 1.5}, SECOND: {"uploaded": 11.0, "picked_up": 11.1}}
    converter = ConverterEvents(claimed={FIRST: 1.5, SECOND: 11.1}, done={FIRST: 4.0})

    result = profile(uploads, steps, {}, [converter])

    assert result.next_job is None
    assert result.email is None


def test_with_two_converters_each_jobs_successor_is_the_next_on_the_same_converter():
    uploads = [Upload(job_id, 0.0, 0.1, 1.0) for job_id in (FIRST, SECOND, THIRD)]
    steps = {job_id: {"uploaded": 1.0} for job_id in (FIRST, SECOND, THIRD)}
    one = ConverterEvents(claimed={FIRST: 2.0, THIRD: 5.0}, done={FIRST: 4.0, THIRD: 8.0})
    other = ConverterEvents(claimed={SECOND: 2.1}, done={SECOND: 4.9})

    result = profile(uploads, steps, {}, [one, other])

    # Only FIRST -> THIRD on the first converter: SECOND's end is not THIRD's start.
    assert result.next_job == 1.0
