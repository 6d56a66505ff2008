"""The sweep removes what nothing needs any more (MP3s past their retention, files no job owns,
sources of finished jobs, uploads that never finished) and leaves everything in use alone.

sweep() is called on databases of the test's own. `python -m converter.sweep` and the converter's
own periodic sweep run against a MongoDB server of the test's own (a throwaway FerretDB, or
mongod), because they sweep the databases every service shares, and the shared server is used by
every other test run on the machine.
"""
import datetime
import io
import re
import shutil
import subprocess
import time
import uuid

import pytest
import requests
from bson import Binary, ObjectId

from converter.sweep import SweepCounts, expire_mp3s, sweep
from mp3common import jobs, storage
from tests.conftest import PYTHON, REPO, ServiceProcess, blob_exists, free_port, make_video, port_is_open
from tests.faults.conftest import mp3_blob_count, wait_for_log

pytestmark = pytest.mark.timeout(120)

NOW = jobs.now()
RETENTION = datetime.timedelta(days=7)
GRACE = datetime.timedelta(hours=1)
LINK = re.compile(r"(http://\S+/download\?\S+)")


class Store:
    """The jobs collection and both GridFS buckets, filled the way the services fill them."""

    def __init__(self, client, prefix=None):
        """Databases named ``prefix``_jobs, _videos and _mp3s; without a prefix, the services' own."""
        self.client = client
        if prefix is None:
            self.names = {"jobs": jobs.JOBS_DB, "videos": storage.VIDEOS_DB, "mp3s": storage.MP3S_DB}
        else:
            self.names = {kind: f"{prefix}_{kind}" for kind in ("jobs", "videos", "mp3s")}
        self.jobs = jobs.Jobs(client, self.names["jobs"])
        self.videos = storage.Bucket(client, self.names["videos"])
        self.mp3s = storage.Bucket(client, self.names["mp3s"])

    def blob(self, bucket, job_id, age=datetime.timedelta(hours=2)):
        """Store a small file for ``job_id``, dated ``age`` ago; return its fid."""
        fid = bucket.put(io.BytesIO(b"\x00" * 1000), "file", {"job_id": job_id, "owner_id": 7, "filename": "file"})
        database = self.names["videos"] if bucket is self.videos else self.names["mp3s"]
        self.client[database]["fs.files"].update_one({"_id": ObjectId(fid)}, {"$set": {"uploadDate": NOW - age}})
        return fid

    def job(self, state, *, keep_video=None, mp3_stored_ago=None):
        """A job in ``state``; its source video is kept unless the converter would have deleted it."""
        job_id = jobs.new_job_id()
        video_fid = self.blob(self.videos, job_id)
        self.jobs.create(job_id=job_id, owner_id=7, email="sweep@example.com", filename="talk.mp4",
                         preset=None, video_fid=video_fid, correlation_id="sweep-test")
        if state != jobs.QUEUED:
            self.jobs.mark_converting(job_id)
        if mp3_stored_ago is not None:
            self.jobs.record_mp3(job_id, self.blob(self.mp3s, job_id))
            self.client[self.names["jobs"]]["jobs"].update_one(
                {"_id": job_id}, {"$set": {"steps.stored": NOW - mp3_stored_ago}})
        if state == jobs.DONE:
            self.jobs.mark_done(job_id)
        elif state == jobs.FAILED:
            self.jobs.mark_failed(job_id, "The file has no audio track to convert.")
        if keep_video is None:
            keep_video = state not in jobs.FINISHED_STATES
        if not keep_video:
            self.videos.delete(video_fid)
        return self.jobs.get(job_id)

    def partial_upload(self, bucket, started_ago):
        """The first chunk of an upload whose process died before it finished."""
        files_id = ObjectId.from_datetime(NOW - started_ago)
        self.client[self.names[bucket]]["fs.chunks"].insert_one({"files_id": files_id, "n": 0, "data": Binary(b"x")})
        return files_id

    def chunk_count(self, bucket, files_id):
        return self.client[self.names[bucket]]["fs.chunks"].count_documents({"files_id": files_id})


@pytest.fixture
def store(mongo_client):
    made = Store(mongo_client, f"sweep_{uuid.uuid4().hex[:10]}")
    yield made
    for name in made.names.values():
        mongo_client.drop_database(name)


def test_the_sweep_removes_what_no_job_needs_and_leaves_live_jobs_alone(store):
    queued = store.job(jobs.QUEUED)
    converting = store.job(jobs.CONVERTING)
    fresh = store.job(jobs.DONE, mp3_stored_ago=datetime.timedelta(days=1))
    expired = store.job(jobs.DONE, mp3_stored_ago=datetime.timedelta(days=8))
    done_with_source_left = store.job(jobs.DONE, keep_video=True, mp3_stored_ago=datetime.timedelta(hours=2))
    failed_with_source_left = store.job(jobs.FAILED, keep_video=True)
    orphan_video = store.blob(store.videos, jobs.new_job_id())
    uploading_video = store.blob(store.videos, jobs.new_job_id(), age=datetime.timedelta(minutes=1))
    orphan_mp3 = store.blob(store.mp3s, jobs.new_job_id())
    duplicate_mp3 = store.blob(store.mp3s, fresh["_id"])
    failed_jobs_mp3 = store.blob(store.mp3s, failed_with_source_left["_id"])
    being_recorded_mp3 = store.blob(store.mp3s, converting["_id"])
    abandoned_upload = store.partial_upload("videos", started_ago=datetime.timedelta(hours=2))
    current_upload = store.partial_upload("mp3s", started_ago=datetime.timedelta(minutes=1))

    counts = sweep(store.jobs, store.videos, store.mp3s, now=NOW, retention=RETENTION, grace=GRACE)

    assert counts == SweepCounts(expired_mp3s=1, finished_videos=2, unowned_videos=1, unowned_mp3s=3,
                                 partial_uploads=1)
    assert blob_exists(store.videos, queued["video_fid"]) and blob_exists(store.videos, converting["video_fid"])
    assert blob_exists(store.mp3s, fresh["mp3_fid"]) and blob_exists(store.mp3s, done_with_source_left["mp3_fid"])
    assert not blob_exists(store.mp3s, expired["mp3_fid"])
    expired_now = store.jobs.get(expired["_id"])
    assert (expired_now["state"], expired_now["mp3_fid"]) == ("done", expired["mp3_fid"])
    assert expired_now["expired_at"] is not None
    assert not blob_exists(store.videos, done_with_source_left["video_fid"])
    assert not blob_exists(store.videos, failed_with_source_left["video_fid"])
    assert not blob_exists(store.videos, orphan_video)
    assert blob_exists(store.videos, uploading_video), "a file younger than the grace may still get its job"
    assert not blob_exists(store.mp3s, orphan_mp3) and not blob_exists(store.mp3s, duplicate_mp3)
    assert not blob_exists(store.mp3s, failed_jobs_mp3)
    assert blob_exists(store.mp3s, being_recorded_mp3), "a converting job may be about to record it"
    assert store.chunk_count("videos", abandoned_upload) == 0
    assert store.chunk_count("mp3s", current_upload) == 1
    states = [store.jobs.get(job["_id"])["state"] for job in (queued, converting, fresh)]
    assert states == ["queued", "converting", "done"]


def test_a_second_sweep_finds_nothing_more(store):
    store.job(jobs.DONE, mp3_stored_ago=datetime.timedelta(days=30))
    store.blob(store.videos, jobs.new_job_id())

    first = sweep(store.jobs, store.videos, store.mp3s, now=NOW, retention=RETENTION, grace=GRACE)
    second = sweep(store.jobs, store.videos, store.mp3s, now=NOW, retention=RETENTION, grace=GRACE)

    assert (first.expired_mp3s, first.unowned_videos) == (1, 1)
    assert second == SweepCounts()


class ThrowawayMongo:
    """A MongoDB-protocol server of the test's own: mongod if installed, else the stack's FerretDB."""

    def __init__(self, data_dir):
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        data_dir.mkdir()
        if shutil.which("mongod"):
            command = ["mongod", "--dbpath", str(data_dir), "--bind_ip", "127.0.0.1", "--port", str(self.port)]
        else:
            command = [str(REPO / ".bin" / "ferretdb"), "-listen-addr", f"127.0.0.1:{self.port}",
                       "-sqlite-dir", str(data_dir)]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not port_is_open(self.port):
            assert time.monotonic() < deadline, "the throwaway MongoDB did not start"
            assert self._process.poll() is None, "the throwaway MongoDB exited"
            time.sleep(0.1)
        self.client = storage.connect(self.uri)
        storage.ping(self.client)

    def stop(self):
        self.client.close()
        self._process.terminate()
        self._process.wait(20)


@pytest.fixture
def own_mongo(tmp_path):
    server = ThrowawayMongo(tmp_path / "mongo")
    yield server
    server.stop()


def test_python_m_converter_sweep_sweeps_once_and_exits_0(own_mongo, system):
    store = Store(own_mongo.client)
    expired = store.job(jobs.DONE, mp3_stored_ago=datetime.timedelta(days=8))
    live = store.job(jobs.CONVERTING)
    orphan = store.blob(store.videos, jobs.new_job_id())

    swept = subprocess.run(
        [PYTHON, "-m", "converter.sweep"], cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**system.env, "MONGODB_URI": own_mongo.uri},
    )

    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert "sweep done: SweepCounts(expired_mp3s=1, finished_videos=0, unowned_videos=1," in swept.stdout
    assert not blob_exists(store.mp3s, expired["mp3_fid"]) and not blob_exists(store.videos, orphan)
    assert blob_exists(store.videos, live["video_fid"])


def test_python_m_converter_sweep_exits_1_when_mongodb_is_unreachable(system):
    swept = subprocess.run(
        [PYTHON, "-m", "converter.sweep"], cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**system.env, "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/"},
    )

    assert swept.returncode == 1
    assert "MongoDB is not reachable" in swept.stdout


def test_the_converter_sweeps_on_its_own_every_interval(own_mongo, system, tmp_path):
    store = Store(own_mongo.client)
    orphan = store.blob(store.videos, jobs.new_job_id())
    port = free_port()
    sweeping_converter = ServiceProcess(
        name="sweeping-converter", argv=[PYTHON, "-m", "converter"], log_path=tmp_path / "converter.log",
        env={**system.env, "MONGODB_URI": own_mongo.uri, "HEALTH_PORT": str(port), "SWEEP_INTERVAL_SECONDS": "1"},
        health_url=f"http://127.0.0.1:{port}/healthz",
    )

    sweeping_converter.start()
    try:
        wait_for_log(sweeping_converter, "sweep done", timeout=30)
    finally:
        assert sweeping_converter.stop() == 0
    assert not blob_exists(store.videos, orphan)


def test_an_expired_mp3_is_gone_and_its_download_answers_404(system, client, mail, mongo_client, tmp_path):
    response = client.upload(make_video(tmp_path / "old-talk.mp4", seconds=1))
    job_id = response.json()["job_id"]
    mp3_fid = client.wait_until_finished(job_id)["mp3_fid"]
    [email] = mail.wait_for(client.email)
    link = re.sub(r"^http://[^/]+", system.gateway_url, LINK.search(email.get_payload(decode=True).decode()).group(1))
    assert requests.get(link, timeout=30).status_code == 200
    # As if it had been stored ten years ago: on the shared databases, only this job is that old.
    long_ago = NOW - datetime.timedelta(days=3650)
    job_store, mp3s = jobs.Jobs(mongo_client), storage.Bucket(mongo_client, storage.MP3S_DB)
    # A run of this test killed half-way leaves its job that old and unexpired: expire it first.
    expire_mp3s(job_store, mp3s, stored_before=long_ago + datetime.timedelta(days=1))
    mongo_client[jobs.JOBS_DB]["jobs"].update_one({"_id": job_id}, {"$set": {"steps.stored": long_ago}})

    expired = expire_mp3s(job_store, mp3s, stored_before=long_ago + datetime.timedelta(days=1))

    assert expired == 1
    assert mp3_blob_count(mongo_client, job_id) == 0
    job = client.job(job_id)
    assert (job["state"], job["mp3_fid"]) == ("done", mp3_fid), "the job stays, with its history"
    by_token = requests.get(f"{system.gateway_url}/download", params={"fid": mp3_fid}, headers=client.headers,
                            timeout=30)
    by_link = requests.get(link, timeout=30)
    for download in (by_token, by_link):
        assert download.status_code == 404, download.text
        assert download.json()["error"]["code"] == "not_found"
