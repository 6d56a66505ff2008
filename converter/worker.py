"""The conversion of one `video` message: source video in GridFS -> MP3 in GridFS -> `mp3` message."""

import logging
import tempfile
import time

from prometheus_client import Counter, Histogram

from mp3common import filenames, jobs, media, messages, metrics, storage

logger = logging.getLogger(__name__)

SOURCE_LOST_REASON = "The uploaded file was lost before it could be converted."

# done, or failed with the reason's code (unsupported_media, too_long, source_lost). Retried and
# dead-lettered conversions are mp3_messages_handled_total{queue="video"}, counted by the consumer.
CONVERSIONS = Counter("mp3_conversions_total", "Conversions finished, by outcome and the reason of a failure.",
                      ["outcome", "reason"])
metrics.start_at_zero(CONVERSIONS, {"outcome": jobs.DONE, "reason": ""},
                      *({"outcome": jobs.FAILED, "reason": reason}
                        for reason in (media.MediaError.code, media.TooLong.code, "source_lost")))
CONVERSION_SPEED = Histogram("mp3_conversion_speed_ratio",
                             "Seconds of media converted per second of ffmpeg's wall time.",
                             buckets=metrics.SPEED_BUCKETS)
# The steps between the job's timestamps that the converter finishes (mp3common.metrics.JOB_STEPS).
CONVERTER_STEPS = ("queue_wait", "fetch", "convert", "store")


class ProgressThrottle:
    """Says when a progress value is worth writing: after both `min_step` points and `min_seconds`."""

    def __init__(self, min_step=5, min_seconds=2.0, clock=time.monotonic):
        self._min_step = min_step
        self._min_seconds = min_seconds
        self._clock = clock
        self._last_percent = 0
        self._last_time = clock()

    def due(self, percent):
        now = self._clock()
        if percent - self._last_percent < self._min_step or now - self._last_time < self._min_seconds:
            return False
        self._last_percent, self._last_time = percent, now
        return True


class ConversionWorker:
    """Handles `video` messages; every step is idempotent on the job id, so a redelivery is safe."""

    QUEUE = messages.VIDEO_QUEUE
    # One conversion at a time per worker: ffmpeg already uses the CPU, and an unstarted message
    # should wait in the queue where another worker can take it.
    PREFETCH = 1

    def __init__(self, *, videos, video_deleter, mp3s, jobs, publisher, work_dir, media_limits=media.DEFAULT_LIMITS,
                 should_cancel=lambda: False):
        self._videos = videos
        # Deletes the sources of finished jobs off this thread (converter.deleter).
        self._video_deleter = video_deleter
        self._mp3s = mp3s
        self._jobs = jobs
        self._publisher = publisher
        self._work_dir = work_dir
        self._media_limits = media_limits
        self._should_cancel = should_cancel

    def handle(self, body, delivery):
        """Convert the job's video and announce the result; raise only for errors worth retrying."""
        job_id = body["job_id"]
        try:
            job = self._jobs.get(job_id)
        except jobs.JobNotFound:
            logger.info("job %s no longer exists (its owner deleted it); nothing to convert", job_id)
            return
        if job["state"] in jobs.FINISHED_STATES:
            # A redelivery after a crash between finishing the job and the ack: the source may
            # still be there and the announcement may be lost. Both steps are safe to repeat; the
            # notification service sends one email per job.
            logger.info("job %s is already %s; announcing the result again", job_id, job["state"])
            self._announce(job)
            self._video_deleter.delete(job["video_fid"])
            return
        job = self._jobs.mark_converting(job_id)
        if job is None:
            logger.info("job %s finished or was deleted meanwhile; nothing to do", job_id)
            return
        logger.info("converting job %s (attempt %d)", job_id, delivery.attempt)

        try:
            mp3_fid = job["mp3_fid"] or self._convert(job)
        except media.MediaError as error:
            self._fail(job, str(error), error.code)
            return
        except storage.FileNotFound:
            self._fail(job, SOURCE_LOST_REASON, "source_lost")
            return
        except jobs.JobNotFound:
            logger.info("job %s was deleted while converting; discarding it", job_id)
            self._video_deleter.delete(job["video_fid"])
            return
        # The job is done before it is announced, so the user who follows the email's link
        # never finds it still converting.
        self._jobs.mark_done(job_id)
        CONVERSIONS.labels(outcome=jobs.DONE, reason="").inc()
        self._announce({**job, "state": jobs.DONE, "mp3_fid": mp3_fid})
        # After the announcement, and queued for another thread, so neither the email nor the
        # next message waits for it. A crash before it is done leaves the source to the
        # redelivery, or to the sweep.
        self._video_deleter.delete(job["video_fid"])
        logger.info("job %s done: mp3 %s", job_id, mp3_fid)

    def _convert(self, job):
        """Copy the video to a temporary file, extract its audio and store it; return the mp3 fid."""
        job_id = job["_id"]
        throttle = ProgressThrottle()

        def report_progress(percent):
            if throttle.due(percent):
                self._jobs.set_progress(job_id, percent)

        # ffmpeg needs seekable files (MP4 often keeps its index at the end), so the video goes
        # to disk rather than through a pipe; the files are deleted however this block ends.
        with (
            tempfile.NamedTemporaryFile(dir=self._work_dir, prefix="video-") as video_file,
            tempfile.NamedTemporaryFile(dir=self._work_dir, prefix="audio-", suffix=".mp3") as mp3_file,
        ):
            self._videos.copy_to(job["video_fid"], video_file)
            video_file.flush()
            self._jobs.mark_fetched(job_id)
            media.extract_mp3(
                video_file.name,
                mp3_file.name,
                preset=job["preset"],
                on_progress=report_progress,
                should_cancel=self._should_cancel,
                # What the gateway's probe found; a job written before it kept that has none.
                info=media.MediaInfo(**job["media"]) if job.get("media") else None,
                limits=self._media_limits,
            )
            self._jobs.mark_converted(job_id)
            filename = filenames.mp3_name(job["filename"])
            metadata = {"job_id": job_id, "owner_id": job["owner_id"], "filename": filename}
            # ffmpeg wrote through its own descriptor; ours still reads from the start.
            mp3_fid = self._mp3s.put(mp3_file, filename, metadata)

        try:
            stored = self._jobs.record_mp3(job_id, mp3_fid)
        except jobs.JobNotFound:
            # Its owner deleted the job meanwhile: nothing may keep the MP3 they no longer want.
            self._mp3s.delete(mp3_fid)
            raise
        if stored["mp3_fid"] != mp3_fid:
            # Another delivery of the same job stored its MP3 first; keep one copy only.
            logger.info("job %s already has mp3 %s; deleting the duplicate", job_id, stored["mp3_fid"])
            self._mp3s.delete(mp3_fid)
            return stored["mp3_fid"]
        _observe_conversion(stored)
        return mp3_fid

    def _fail(self, job, reason, reason_code):
        """A problem with the file itself: record it and tell the user; retrying would not help."""
        failed = self._jobs.mark_failed(job["_id"], reason)
        self._video_deleter.delete(job["video_fid"])
        if failed is None:
            # Another delivery of the same job finished it first (and deleted the source, which
            # is why this one found none): that delivery announces the real result. Announcing a
            # failure here could email "we could not convert" about a job that is done.
            logger.info("job %s was finished by another delivery; not failing it", job["_id"])
            return
        logger.info("job %s failed: %s", job["_id"], reason)
        CONVERSIONS.labels(outcome=jobs.FAILED, reason=reason_code).inc()
        self._announce(failed)

    def _announce(self, job):
        """Publish the `mp3` message for a finished job; the notification service reads the result from the job."""
        self._publisher.publish(messages.MP3_QUEUE, messages.job_message(job["_id"], job["correlation_id"]))


def _observe_conversion(job):
    """Feed the step histograms and the speed from the timestamps of a job whose MP3 is stored."""
    steps = job.get("steps") or {}
    metrics.observe_job_steps(steps, CONVERTER_STEPS)
    convert_seconds = metrics.step_seconds(steps, "fetched", "converted")
    media_seconds = (job.get("media") or {}).get("duration_seconds")
    if convert_seconds and media_seconds:
        CONVERSION_SPEED.observe(media_seconds / convert_seconds)
