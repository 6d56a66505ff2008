"""POST /upload: a video with sound becomes a stored blob, a queued job and one `video` message;
anything else is refused before a byte is stored."""
import io

import pytest

from mp3common import media, messages, storage
from mp3common.jobs import Jobs
from tests.conftest import stored_fids


def upload(client, user, content, filename="talk.mp4", headers=None, **form):
    """POST /upload the way a browser form or `curl -F file=@...` does."""
    data = {**form, "file": (io.BytesIO(content), filename)}
    return client.post("/upload", data=data, headers={**user.headers, **(headers or {})},
                       content_type="multipart/form-data")


def stored_videos(mongo_client, owner):
    return stored_fids(mongo_client, storage.VIDEOS_DB, owner_id=owner.id)


def jobs_of(mongo_client, owner):
    return list(mongo_client["jobs"]["jobs"].find({"owner_id": owner.id}))


def assert_nothing_stored_or_queued(mongo_client, owner, video_queue):
    assert stored_videos(mongo_client, owner) == []
    assert jobs_of(mongo_client, owner) == []
    assert video_queue.take_all() == []


def test_a_video_with_sound_is_stored_recorded_and_queued_once(client, user, media_files, mongo_client, video_queue,
                                                                upload_dir):
    response = upload(client, user, media_files.talk.read_bytes(), headers={"X-Request-ID": "req-talk-1"},
                      preset="192k")

    assert response.status_code == 202, response.json
    job_id = response.json["job_id"]
    assert response.json == {"job_id": job_id, "status": "queued", "status_url": f"/jobs/{job_id}"}
    assert response.headers["Location"] == f"/jobs/{job_id}"
    assert response.headers["X-Request-ID"] == "req-talk-1"

    # The blob, with the metadata the converter relies on, holding exactly the uploaded bytes.
    [video_fid] = stored_videos(mongo_client, user)
    with storage.Bucket(mongo_client, storage.VIDEOS_DB).open(video_fid) as stored:
        assert stored.metadata == {"job_id": job_id, "owner_id": user.id, "filename": "talk.mp4"}
        assert stored.read() == media_files.talk.read_bytes()

    job = Jobs(mongo_client).get(job_id)
    assert job["state"] == "queued" and job["progress"] == 0
    assert (job["owner_id"], job["email"], job["filename"], job["preset"]) == (user.id, user.email, "talk.mp4", "192k")
    assert job["video_fid"] == video_fid and job["mp3_fid"] is None
    assert job["correlation_id"] == "req-talk-1"
    # What the upload's probe found, kept so that the converter need not probe again.
    assert job["media"] == {"duration_seconds": pytest.approx(2.0, abs=0.1), "audio_codec": "aac", "audio_channels": 2}

    [(properties, body)] = video_queue.take_all()
    messages.validate(messages.VIDEO_QUEUE, body)
    # The message names the job; the converter reads the rest from the job document above.
    assert body == {"version": 2, "job_id": job_id, "correlation_id": "req-talk-1"}
    assert properties.delivery_mode == 2
    assert (properties.message_id, properties.correlation_id) == (job_id, "req-talk-1")
    # The spooled upload is gone from disk once the request is over.
    assert list(upload_dir.iterdir()) == []


def test_without_a_preset_the_job_leaves_the_choice_to_the_converter(client, user, media_files, mongo_client):
    response = upload(client, user, media_files.talk.read_bytes())

    assert response.status_code == 202
    assert Jobs(mongo_client).get(response.json["job_id"])["preset"] is None


def test_a_request_id_that_is_not_sane_is_replaced_by_a_fresh_one(client, user, media_files, video_queue):
    response = upload(client, user, media_files.talk.read_bytes(), headers={"X-Request-ID": "bad id; rm -rf /"})

    assert response.status_code == 202
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32 and request_id.isalnum()
    [(_, body)] = video_queue.take_all()
    assert body["correlation_id"] == request_id


def test_the_stored_name_is_the_clients_base_name_only(client, user, media_files, mongo_client):
    response = upload(client, user, media_files.talk.read_bytes(), filename="..\\..\\C:\\evil/../ta\x07lk\x1b.mp4")

    assert response.status_code == 202
    assert Jobs(mongo_client).get(response.json["job_id"])["filename"] == "talk.mp4"


def test_upload_without_a_file_part_is_refused_with_400(client, user, video_queue, mongo_client):
    response = client.post("/upload", data={"preset": "128k"}, headers=user.headers, content_type="multipart/form-data")

    assert response.status_code == 400
    assert response.json["error"]["code"] == "missing_file"
    assert_nothing_stored_or_queued(mongo_client, user, video_queue)


def test_upload_with_an_empty_file_name_is_refused_with_400(client, user, media_files):
    response = upload(client, user, media_files.talk.read_bytes(), filename="")

    assert response.status_code == 400
    assert response.json["error"]["code"] == "missing_file"


def test_a_body_cut_off_in_the_middle_of_the_file_leaves_no_spooled_file(client, user, upload_dir):
    boundary = "cut-off"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"talk.mp4\"\r\n\r\n"
            ).encode() + b"\0" * 100_000  # no closing boundary: the client went away

    response = client.post("/upload", data=body, headers=user.headers,
                           content_type=f"multipart/form-data; boundary={boundary}")

    assert response.status_code == 400
    assert list(upload_dir.iterdir()) == []


def test_an_empty_file_is_refused_with_422(client, user, mongo_client, video_queue):
    response = upload(client, user, b"")

    assert response.status_code == 422
    assert response.json["error"]["code"] == "empty_file"
    assert_nothing_stored_or_queued(mongo_client, user, video_queue)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("text", media.UNSUPPORTED_MESSAGE),
        ("silent", "The file has no audio track to convert."),
    ],
)
def test_a_file_without_sound_to_convert_is_refused_with_422_before_anything_is_stored(
    client, user, media_files, mongo_client, video_queue, upload_dir, kind, message
):
    response = upload(client, user, getattr(media_files, kind).read_bytes(), filename="video.mp4")

    assert response.status_code == 422
    assert response.json["error"] == {"code": "unsupported_media", "message": message}
    assert_nothing_stored_or_queued(mongo_client, user, video_queue)
    assert list(upload_dir.iterdir()) == []


def test_a_recording_longer_than_the_limit_is_refused_with_422_before_anything_is_stored(
    make_app, user, media_files, mongo_client, video_queue, upload_dir
):
    client = make_app(MAX_DURATION_SECONDS="1").test_client()

    response = upload(client, user, media_files.talk.read_bytes())

    assert response.status_code == 422
    assert response.json["error"] == {"code": "too_long", "message": "The recording is 2 s long; the limit is 1 s."}
    assert_nothing_stored_or_queued(mongo_client, user, video_queue)
    assert list(upload_dir.iterdir()) == []


def test_an_unknown_preset_is_refused_with_400(client, user, media_files, mongo_client, video_queue):
    response = upload(client, user, media_files.talk.read_bytes(), preset="999k")

    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_preset"
    assert_nothing_stored_or_queued(mongo_client, user, video_queue)


def test_an_upload_over_the_limit_is_refused_with_413_before_it_is_stored(
    make_app, user, media_files, mongo_client, video_queue, upload_dir
):
    client = make_app(MAX_UPLOAD_BYTES="10000").test_client()

    response = upload(client, user, media_files.talk.read_bytes())

    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"
    assert "10000 bytes" in response.json["error"]["message"]
    assert_nothing_stored_or_queued(mongo_client, user, video_queue)
    assert list(upload_dir.iterdir()) == []


def test_the_same_idempotency_key_twice_makes_one_job(client, user, media_files, mongo_client, video_queue):
    key = {"Idempotency-Key": "upload-talk-2024-05-01"}

    first = upload(client, user, media_files.talk.read_bytes(), headers=key)
    second = upload(client, user, media_files.talk.read_bytes(), headers=key)

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json == first.json
    assert len(jobs_of(mongo_client, user)) == 1
    assert len(stored_videos(mongo_client, user)) == 1
    assert len(video_queue.take_all()) == 1


def test_an_idempotency_key_belongs_to_one_user(client, user, other_user, media_files, video_queue):
    key = {"Idempotency-Key": "same-key-different-people"}

    mine = upload(client, user, media_files.talk.read_bytes(), headers=key)
    theirs = upload(client, other_user, media_files.talk.read_bytes(), headers=key)

    assert (mine.status_code, theirs.status_code) == (202, 202)
    assert mine.json["job_id"] != theirs.json["job_id"]


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_an_unusable_idempotency_key_is_refused_with_400(client, user, media_files, key):
    response = upload(client, user, media_files.talk.read_bytes(), headers={"Idempotency-Key": key})

    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_idempotency_key"


def test_when_the_broker_is_down_the_upload_is_refused_with_503_and_undone(
    make_app, closed_port, user, media_files, mongo_client, upload_dir
):
    client = make_app(AMQP_URL=f"amqp://guest:guest@127.0.0.1:{closed_port}/%2F").test_client()

    response = upload(client, user, media_files.talk.read_bytes(), headers={"Idempotency-Key": "retry-me"})

    assert response.status_code == 503
    assert response.json["error"]["code"] == "broker_unavailable"
    assert stored_videos(mongo_client, user) == []
    assert jobs_of(mongo_client, user) == []
    # The key was released with the job, so the client's retry makes a fresh attempt.
    assert mongo_client["jobs"]["idempotency_keys"].count_documents({"_id": f"{user.id}:retry-me"}) == 0
    assert list(upload_dir.iterdir()) == []


def test_when_mongodb_is_down_the_upload_is_refused_with_503_and_nothing_is_queued(
    make_app, closed_port, user, media_files, video_queue, upload_dir
):
    client = make_app(MONGODB_URI=f"mongodb://127.0.0.1:{closed_port}/").test_client()

    response = upload(client, user, media_files.talk.read_bytes())

    assert response.status_code == 503
    assert response.json["error"]["code"] == "database_unavailable"
    assert video_queue.take_all() == []
    assert list(upload_dir.iterdir()) == []
