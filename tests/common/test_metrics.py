"""The pure parts of mp3common.metrics: step durations from a job's timestamps, status classes,
and gunicorn's multiprocess directory."""
import datetime

import pytest
from prometheus_client import REGISTRY

from mp3common import metrics

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def test_a_step_lasts_from_its_start_timestamp_to_its_end_timestamp():
    steps = {"uploaded": at(0), "picked_up": at(2.5)}
    assert metrics.step_seconds(steps, "uploaded", "picked_up") == 2.5


@pytest.mark.parametrize("steps", [
    {"uploaded": at(0)}, {"picked_up": at(1)}, {}, {"uploaded": None, "picked_up": at(1)},
])
def test_a_step_with_a_missing_timestamp_has_no_duration(steps):
    assert metrics.step_seconds(steps, "uploaded", "picked_up") is None


def test_clocks_that_disagree_never_make_a_negative_duration():
    assert metrics.step_seconds({"uploaded": at(5), "picked_up": at(4)}, "uploaded", "picked_up") == 0.0


def test_only_the_named_steps_with_both_timestamps_are_observed():
    steps = {"uploaded": at(0), "picked_up": at(1), "fetched": at(3), "converted": at(10)}

    def count(step):
        return REGISTRY.get_sample_value("mp3_job_step_duration_seconds_count", {"step": step}) or 0.0

    before = {step: count(step) for step in ("queue_wait", "fetch", "convert", "store")}
    metrics.observe_job_steps(steps, ("fetch", "convert", "store"))
    after = {step: count(step) for step in before}

    assert {step: after[step] - before[step] for step in before} == {
        "queue_wait": 0, "fetch": 1, "convert": 1, "store": 0}


@pytest.mark.parametrize("status, label", [(200, "2xx"), (202, "2xx"), (304, "3xx"), (422, "4xx"), (503, "5xx")])
def test_statuses_are_counted_by_class(status, label):
    assert metrics.status_class(status) == label


def test_the_multiprocess_directory_is_emptied_before_a_server_starts(tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_1234.db").write_bytes(b"left over from the last run")

    metrics.prepare_multiprocess_dir(directory)

    assert directory.is_dir() and list(directory.iterdir()) == []
    metrics.prepare_multiprocess_dir(tmp_path / "new" / "metrics")
    assert (tmp_path / "new" / "metrics").is_dir()
