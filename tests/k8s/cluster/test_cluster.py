"""The chart on a real single-node cluster (`make k8s-test`): installed in dev mode with --wait,
`helm test`, the README's flow through a port-forward, 20 uploads scaling the converters on the
queue with KEDA and back down, a converter pod deleted mid-conversion, a `helm upgrade` during a
conversion, and `helm uninstall`. The tests run in this order and share one release."""
import threading
import time

import pytest
import requests

from tests.conftest import make_video, media_duration
from tests.faults.conftest import make_raw_audio_video
from tests.k8s.cluster.conftest import (
    FID_LINE,
    LINK,
    NAMESPACE,
    RELEASE,
    User,
    deployment_pods,
    emails_to,
    finished,
    helm,
    kubectl,
    mp3_count,
    name,
    replicas,
    wait_for_emails,
)
from tests.k8s.conftest import CHART

pytestmark = pytest.mark.timeout(900)


def test_helm_test_passes_on_the_installed_release(release):
    tested = helm("test", RELEASE, "--timeout", "5m")
    assert "Phase:          Succeeded" in tested.stdout


def test_the_readme_flow_through_a_port_forward_gives_an_email_and_an_mp3(gateway, mailpit, mongo, tmp_path):
    user = User(gateway)
    job_id = user.upload(make_video(tmp_path / "talk.mp4", seconds=3))
    job = user.wait_for_job(job_id, finished)
    assert job["state"] == "done", job

    [email] = wait_for_emails(mailpit, user.email, 1)
    assert email["Subject"] == "Your MP3 is ready: talk.mp3"
    body = email["Text"]
    assert FID_LINE.search(body).group(1) == job["mp3_fid"]
    # The link carries the public base URL the chart was given; the test reaches the same
    # gateway through its port-forward.
    link = LINK.search(body).group(1).replace("http://127.0.0.1:8080", gateway.url)
    for name_, response in [
        ("with-token", requests.get(f"{gateway.url}/download", params={"fid": job["mp3_fid"]},
                                    headers=user.headers, timeout=60)),
        ("by-link", requests.get(link, timeout=60)),
    ]:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == "audio/mpeg"
        (tmp_path / f"{name_}.mp3").write_bytes(response.content)
        duration, codec = media_duration(tmp_path / f"{name_}.mp3")
        assert codec == "mp3" and duration == pytest.approx(3, abs=0.3)
    assert mp3_count(mongo, job_id) == 1


class ReplicaWatch:
    """The converter Deployment's replica count, sampled on a thread while the test waits."""

    def __init__(self):
        self.seen = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.is_set():
            self.seen.append(replicas("converter"))
            self.stopped.wait(1)

    def stop(self):
        self.stopped.set()
        self.thread.join()


def test_twenty_uploads_scale_the_converters_up_on_the_queue_and_down_again_each_job_done_once(
        gateway, mailpit, mongo, tmp_path):
    assert replicas("converter") == 1
    user = User(gateway)
    # Two minutes of audio: about 4 s of conversion each with the paced ffmpeg, 80 s for one
    # converter alone, so the queue stays deep long enough for KEDA to act on it.
    video = make_raw_audio_video(tmp_path / "lecture.mov", seconds=120)
    watch = ReplicaWatch()
    try:
        job_ids = [user.upload(video) for _ in range(20)]
        jobs = [user.wait_for_job(job_id, finished, timeout=600) for job_id in job_ids]
        assert [job["state"] for job in jobs] == ["done"] * 20
        emails = wait_for_emails(mailpit, user.email, 20)
        # Back down once the queue is empty: KEDA's minimum, after the short window of the test's values.
        deadline = time.monotonic() + 300
        while replicas("converter") != 1:
            assert time.monotonic() < deadline, f"the converters did not scale back down: {watch.seen[-10:]}"
            time.sleep(2)
    finally:
        watch.stop()
    print(f"converter replicas seen: {sorted(set(watch.seen))}, max {max(watch.seen)}")
    assert max(watch.seen) > 1
    assert [mp3_count(mongo, job_id) for job_id in job_ids] == [1] * 20
    # One email per job, each job's own (its Message-ID names the job), and no duplicate.
    message_ids = sorted(email["MessageID"] for email in emails)
    assert message_ids == sorted(f"job-{job_id}@mp3-converter" for job_id in job_ids)
    time.sleep(5)
    assert len(emails_to(mailpit, user.email)) == 20


def test_a_converter_pod_deleted_mid_conversion_hands_its_job_back_and_it_finishes_once(
        gateway, mailpit, mongo, tmp_path):
    user = User(gateway)
    # Ten minutes of audio, which the paced ffmpeg converts in about 20 s.
    job_id = user.upload(make_raw_audio_video(tmp_path / "long.mov", seconds=600))
    user.wait_for_job(job_id, lambda job: job["state"] == "converting" and job["progress"] > 0)
    [converting_pod] = deployment_pods("converter")
    # A graceful delete, as a scale-down, a drain or a rollout stops it: SIGTERM, ffmpeg stopped,
    # the message handed back, and the Deployment's replacement takes it up.
    kubectl("delete", "pod", converting_pod, "--wait=true")
    job = user.wait_for_job(job_id, finished, timeout=600)
    assert job["state"] == "done", job
    assert converting_pod not in deployment_pods("converter")
    [email] = wait_for_emails(mailpit, user.email, 1)
    assert email["Subject"] == "Your MP3 is ready: long.mp3"
    assert mp3_count(mongo, job_id) == 1


def test_helm_upgrade_with_a_changed_value_rolls_every_pod_without_losing_a_job(gateway, mailpit, mongo, tmp_path):
    user = User(gateway)
    components = ("gateway", "auth", "converter", "notification")
    before = {component: set(deployment_pods(component)) for component in components}
    job_id = user.upload(make_raw_audio_video(tmp_path / "during-upgrade.mov", seconds=600))
    user.wait_for_job(job_id, lambda job: job["state"] == "converting")
    started = time.monotonic()
    helm("upgrade", RELEASE, str(CHART), "--reuse-values",
         "--set", "logLevel=DEBUG", "--wait", "--timeout", "10m")
    print(f"helm upgrade --wait took {time.monotonic() - started:.0f} s")
    for component, old_pods in before.items():
        new_pods = set(deployment_pods(component))
        assert new_pods and not new_pods & old_pods, f"{component} was not rolled: {old_pods} -> {new_pods}"
        config = kubectl("get", "configmap", name(component), "-o", "jsonpath={.data.LOG_LEVEL}").stdout
        assert config == "DEBUG"
    # The gateway pod the port-forward followed is gone: forward to the new one.
    gateway.start()
    job = user.wait_for_job(job_id, finished, timeout=600)
    assert job["state"] == "done", job
    [email] = wait_for_emails(mailpit, user.email, 1)
    assert email["Subject"] == "Your MP3 is ready: during-upgrade.mp3"
    assert mp3_count(mongo, job_id) == 1


def test_helm_uninstall_removes_everything_the_release_made(release):
    helm("uninstall", RELEASE, "--wait", "--timeout", "5m")
    # --wait covers what helm made; the ReplicaSets and pods those owned go after, as the
    # garbage collector and each pod's termination grace let them.
    deadline = time.monotonic() + 180
    while (left := kubectl("get", "all,configmap,secret,serviceaccount,networkpolicy,poddisruptionbudget,"
                                  "horizontalpodautoscaler,ingress,scaledobject,triggerauthentication",
                           "-l", f"app.kubernetes.io/instance={RELEASE}", "-o", "name").stdout.split()):
        assert time.monotonic() < deadline, f"left by the release in {NAMESPACE}: {left}"
        time.sleep(1)
    assert kubectl("get", "pods", "-o", "name").stdout.split() == []
