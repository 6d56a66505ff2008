"""The chart on a real cluster: run by tests/k8s/run.sh (`make k8s-test`), which brings the cluster
up, loads the images and installs KEDA, and exports KUBECONFIG; `make test` does not collect it.
The fixtures install the release once, reach the gateway, Mailpit and MongoDB through
`kubectl port-forward` on loopback ports, and talk to them as the README's user does."""
import json
import re
import subprocess
import time
import uuid

import pymongo
import pytest
import requests

from auth import keygen
from tests.k8s.conftest import CHART

NAMESPACE = "mp3"
RELEASE = "mp3-converter"
VALUES = CHART.parents[2] / "tests" / "k8s" / "cluster" / "values.yaml"
PACED_FFMPEG = CHART.parents[2] / "tests" / "compose" / "paced-ffmpeg" / "ffmpeg"
PASSWORD = "correct horse battery"
FID_LINE = re.compile(r"^fid: ([0-9a-f]{24})\r?$", re.MULTILINE)
LINK = re.compile(r"(http://\S+/download\?\S+)")
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


def kubectl(*args, check=True, timeout=300):
    result = subprocess.run(["kubectl", "-n", NAMESPACE, *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def helm(*args, check=True, timeout=900):
    result = subprocess.run(["helm", "-n", NAMESPACE, *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def name(component):
    return f"{RELEASE}-{component}"


class PortForward:
    """`kubectl port-forward` of one Service to a free loopback port, started again on demand
    (a forward follows one pod, and ends when that pod does)."""

    def __init__(self, service, port):
        self.service, self.port = service, port
        self.process = None
        self.start()

    def start(self):
        self.stop()
        self.process = subprocess.Popen(
            ["kubectl", "-n", NAMESPACE, "port-forward", "--address", "127.0.0.1", f"service/{self.service}",
             f":{self.port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.process.stdout.readline()
        match = FORWARDING.search(line)
        assert match, f"port-forward to {self.service}: {line}"
        self.url = f"http://127.0.0.1:{match.group(1)}"

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process.stdout.close()
            self.process = None


@pytest.fixture(scope="session")
def release(tmp_path_factory):
    """The chart installed in dev mode with --wait, its secrets made for this run; uninstalled by
    the last test (test_uninstall...), or here if the run stopped before it."""
    secrets = tmp_path_factory.mktemp("secrets")
    keygen.write_missing(secrets)
    subprocess.run(["kubectl", "create", "namespace", NAMESPACE], check=True, capture_output=True)
    kubectl("create", "configmap", "paced-ffmpeg", f"--from-file=ffmpeg={PACED_FFMPEG}")
    started = time.monotonic()
    helm("install", RELEASE, str(CHART), "--values", str(VALUES),
         "--set-file", f"secrets.jwtPrivateKey={secrets / keygen.PRIVATE_KEY_NAME}",
         "--set-file", f"secrets.downloadLinkKey={secrets / keygen.DOWNLOAD_LINK_KEY_NAME}",
         "--wait", "--timeout", "10m")
    print(f"helm install --wait took {time.monotonic() - started:.0f} s")
    yield
    if helm("status", RELEASE, check=False).returncode == 0:
        helm("uninstall", RELEASE, "--wait", check=False)


@pytest.fixture(scope="session")
def gateway(release):
    forward = PortForward(name("gateway"), 8080)
    yield forward
    forward.stop()


@pytest.fixture(scope="session")
def mailpit(release):
    forward = PortForward(name("mailpit"), 8025)
    yield forward
    forward.stop()


@pytest.fixture(scope="session")
def mongo(release):
    forward = PortForward(name("mongodb"), 27017)
    client = pymongo.MongoClient(forward.url.replace("http://", "mongodb://") + "/", serverSelectionTimeoutMS=20000)
    yield client
    client.close()
    forward.stop()


class User:
    """A user of the gateway's API through the port-forward, as the README's curl lines are."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.email = f"k8s-{uuid.uuid4().hex[:10]}@example.com"
        registered = requests.post(f"{gateway.url}/register", json={"email": self.email, "password": PASSWORD},
                                   timeout=30)
        assert registered.status_code == 201, registered.text
        login = requests.post(f"{gateway.url}/login", auth=(self.email, PASSWORD), timeout=30)
        assert login.status_code == 200, login.text
        self.headers = {"Authorization": f"Bearer {login.text.strip()}"}

    def upload(self, path):
        with open(path, "rb") as video:
            response = requests.post(f"{self.gateway.url}/upload", headers=self.headers,
                                     files={"file": (path.name, video)}, timeout=120)
        assert response.status_code == 202, response.text
        return response.json()["job_id"]

    def job(self, job_id):
        response = requests.get(f"{self.gateway.url}/jobs/{job_id}", headers=self.headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_job(self, job_id, condition, timeout=300):
        deadline = time.monotonic() + timeout
        while not condition(job := self.job(job_id)):
            assert time.monotonic() < deadline, f"job {job_id} never got there: {job}"
            time.sleep(0.5)
        return job


def finished(job):
    return job["state"] in ("done", "failed")


def emails_to(mailpit, address):
    """The messages Mailpit holds for ``address``, each with its plain-text body."""
    found = requests.get(f"{mailpit.url}/api/v1/search", params={"query": f'to:"{address}"', "limit": 200},
                         timeout=10)
    found.raise_for_status()
    return [requests.get(f"{mailpit.url}/api/v1/message/{summary['ID']}", timeout=10).json()
            for summary in found.json()["messages"]]


def wait_for_emails(mailpit, address, count, timeout=180):
    deadline = time.monotonic() + timeout
    while len(messages := emails_to(mailpit, address)) < count:
        assert time.monotonic() < deadline, f"{count} email(s) to {address} expected, got {len(messages)}"
        time.sleep(1)
    return messages


def mp3_count(mongo, job_id):
    return mongo["mp3s"]["fs.files"].count_documents({"metadata.job_id": job_id})


def deployment_pods(component):
    """The names of the running pods of one of the release's Deployments, those stopping left out."""
    selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
    listed = json.loads(kubectl("get", "pods", "-l", selector, "--field-selector=status.phase=Running",
                                "-o", "json").stdout)
    return [pod["metadata"]["name"] for pod in listed["items"] if "deletionTimestamp" not in pod["metadata"]]


def replicas(component):
    shown = kubectl("get", "deployment", name(component), "-o", "jsonpath={.spec.replicas}")
    return int(shown.stdout or 0)
