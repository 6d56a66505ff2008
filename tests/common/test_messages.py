"""The message contract: a job's id and correlation id, version 2 sent, versions 1 and 2 taken."""
import json

import pytest

from mp3common import messages

JOB_ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("queue", [messages.VIDEO_QUEUE, messages.MP3_QUEUE])
def test_a_message_names_its_job_and_nothing_else(queue):
    body = messages.job_message(JOB_ID, "req-1")

    assert json.loads(messages.encode(queue, body)) == {"version": 2, "job_id": JOB_ID, "correlation_id": "req-1"}


@pytest.mark.parametrize(
    "queue, version_1",
    [
        (messages.VIDEO_QUEUE, {"version": 1, "job_id": JOB_ID, "correlation_id": "req-1",
                                "video_fid": "65a1b2c3d4e5f60718293a4b", "owner_id": 7, "email": "ana@example.com",
                                "filename": "talk.mp4", "preset": None}),
        (messages.MP3_QUEUE, {"version": 1, "job_id": JOB_ID, "correlation_id": "req-1", "status": "done",
                              "mp3_fid": "65a1b2c3d4e5f60718293a4b", "owner_id": 7, "email": "ana@example.com",
                              "filename": "talk.mp3", "reason": None}),
    ],
)
def test_a_version_1_message_is_still_taken_during_a_rolling_upgrade_but_no_longer_sent(queue, version_1):
    assert messages.decode(queue, json.dumps(version_1).encode()) == version_1
    with pytest.raises(messages.InvalidMessage, match="no longer sent"):
        messages.encode(queue, version_1)


@pytest.mark.parametrize(
    "body, problem",
    [
        ({"version": 3, "job_id": JOB_ID, "correlation_id": "c"}, "version: 3 is not one of the known versions"),
        ({"job_id": JOB_ID, "correlation_id": "c"}, "version: None is not one of the known versions"),
        ({"version": 2, "job_id": "not-hex", "correlation_id": "c"}, "job_id"),
        ({"version": 2, "job_id": JOB_ID, "correlation_id": "c", "email": "a@b.c"}, "Additional properties"),
        ({"version": 2, "job_id": JOB_ID}, "correlation_id"),
    ],
)
def test_a_message_off_its_schema_is_refused_by_name(body, problem):
    with pytest.raises(messages.InvalidMessage, match=problem):
        messages.decode(messages.VIDEO_QUEUE, json.dumps(body).encode())
