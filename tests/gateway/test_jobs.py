"""GET /jobs, GET /jobs/<id>, DELETE /jobs/<id>: users see and remove their own jobs only."""
import datetime
import time

import pytest

from mp3common import storage
from mp3common.jobs import Jobs
from tests.conftest import stored_fids


@pytest.fixture
def queued_jobs(mongo_client):
    """Record queued jobs for a user straight in MongoDB, oldest first."""

    def make(owner, count):
        jobs = Jobs(mongo_client)
        job_ids = []
        for number in range(count):
            job_id = f"{owner.id:012d}{number:020d}"[-32:]
            jobs.create(job_id=job_id, owner_id=owner.id, email=owner.email, filename=f"clip-{number}.mp4",
                        preset="128k", video_fid="0" * 24, correlation_id=f"corr-{number}")
            job_ids.append(job_id)
            time.sleep(0.005)  # distinct created_at (MongoDB keeps milliseconds)
        return job_ids

    return make


def test_a_user_lists_their_jobs_newest_first(client, user, other_user, queued_jobs):
    job_ids = queued_jobs(user, 3)
    queued_jobs(other_user, 2)

    response = client.get("/jobs", headers=user.headers)

    assert response.status_code == 200
    assert [job["id"] for job in response.json["jobs"]] == job_ids[::-1]
    assert (response.json["total"], response.json["limit"], response.json["offset"]) == (3, 20, 0)


def test_jobs_are_listed_a_page_at_a_time(client, user, queued_jobs):
    job_ids = queued_jobs(user, 5)

    response = client.get("/jobs", query_string={"limit": 2, "offset": 1}, headers=user.headers)

    assert [job["id"] for job in response.json["jobs"]] == job_ids[::-1][1:3]
    assert (response.json["total"], response.json["limit"], response.json["offset"]) == (5, 2, 1)


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1}, {"offset": "1.5"}])
def test_a_page_outside_the_bounds_is_refused_with_400(client, user, query):
    response = client.get("/jobs", query_string=query, headers=user.headers)

    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_parameter"


def test_a_job_shows_its_state_progress_and_steps(client, user, store_mp3):
    stored = store_mp3(user)

    response = client.get(f"/jobs/{stored.job_id}", headers=user.headers)

    assert response.status_code == 200
    job = response.json
    assert (job["id"], job["state"], job["progress"]) == (stored.job_id, "done", 100)
    assert (job["mp3_fid"], job["error"]) == (stored.fid, None)
    assert (job["filename"], job["preset"]) == ("talk.mp4", None)
    assert job["download_url"] == f"/download?fid={stored.fid}"
    assert set(job["steps"]) == {"uploaded", "picked_up", "stored"}
    for moment in [job["created_at"], job["updated_at"], *job["steps"].values()]:
        assert datetime.datetime.fromisoformat(moment).utcoffset() == datetime.timedelta(0)
    # Nothing internal leaks: no owner, email or source blob id.
    assert not {"owner_id", "email", "video_fid", "_id"} & set(job)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_another_users_job_is_404_like_a_missing_one(client, user, other_user, store_mp3, mongo_client, method):
    stored = store_mp3(other_user)

    response = client.open(f"/jobs/{stored.job_id}", method=method, headers=user.headers)

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    assert Jobs(mongo_client).get(stored.job_id)["owner_id"] == other_user.id


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_an_unknown_job_is_404(client, user, method):
    response = client.open("/jobs/ffffffffffffffffffffffffffffffff", method=method, headers=user.headers)

    assert response.status_code == 404


def test_deleting_a_job_removes_it_with_its_video_and_mp3(client, user, store_mp3, mongo_client):
    stored = store_mp3(user)

    response = client.delete(f"/jobs/{stored.job_id}", headers=user.headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert client.get(f"/jobs/{stored.job_id}", headers=user.headers).status_code == 404
    assert stored_fids(mongo_client, storage.VIDEOS_DB, job_id=stored.job_id) == []
    assert stored_fids(mongo_client, storage.MP3S_DB, job_id=stored.job_id) == []


def test_when_mongodb_is_down_jobs_answer_503(make_app, closed_port, user):
    client = make_app(MONGODB_URI=f"mongodb://127.0.0.1:{closed_port}/").test_client()

    response = client.get("/jobs", headers=user.headers)

    assert response.status_code == 503
    assert response.json["error"]["code"] == "database_unavailable"
