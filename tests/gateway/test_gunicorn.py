"""The gateway as it really runs: gunicorn with gateway/gunicorn.conf.py, spoken to over HTTP."""
import os

import pytest
import requests

from tests.conftest import BIN, ServiceProcess, free_port


@pytest.fixture
def gateway_server(gateway_env, tmp_path):
    """gunicorn serving gateway.wsgi:app on a free port, bound through GUNICORN_BIND as in a container."""
    port = free_port()
    env = {**os.environ, **gateway_env, "GUNICORN_BIND": f"127.0.0.1:{port}", "MAX_UPLOAD_BYTES": "1000000",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    server = ServiceProcess(
        name="gateway",
        argv=[str(BIN / "gunicorn"), "-c", "gateway/gunicorn.conf.py", "gateway.wsgi:app"],
        env=env,
        health_url=f"http://127.0.0.1:{port}/healthz",
        log_path=tmp_path / "gateway.log",
    ).start()
    server.url = f"http://127.0.0.1:{port}"
    yield server
    server.stop()


def test_an_upload_over_http_is_queued_and_can_be_followed(gateway_server, user, media_files, video_queue, upload_dir):
    with media_files.talk.open("rb") as video:
        response = requests.post(f"{gateway_server.url}/upload",
                                 headers={**user.headers, "X-Request-ID": "over-http-1"},
                                 files={"file": ("talk.mp4", video)}, data={"preset": "vbr-high"}, timeout=30)

    assert response.status_code == 202, response.text
    assert response.headers["X-Request-ID"] == "over-http-1"
    job_id = response.json()["job_id"]
    [(_, body)] = video_queue.take_all()
    assert (body["job_id"], body["correlation_id"]) == (job_id, "over-http-1")

    status = requests.get(f"{gateway_server.url}{response.json()['status_url']}", headers=user.headers, timeout=10)
    assert status.status_code == 200
    assert status.json()["preset"] == "vbr-high"
    assert status.json()["state"] == "queued"
    assert list(upload_dir.iterdir()) == []
    # The correlation id reaches the application's log lines, formatted by mp3common.logs.
    assert "[over-http-1] gateway.conversions: queued job" in gateway_server.log_path.read_text()


def test_over_http_an_oversize_upload_is_413_json(gateway_server, user):
    response = requests.post(f"{gateway_server.url}/upload", headers=user.headers,
                             files={"file": ("big.mp4", b"\0" * 2_000_000)}, timeout=30)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_over_http_an_oversize_upload_without_content_length_is_413_json(gateway_server, user, upload_dir):
    boundary = "gateway-test-boundary"

    def chunked_body():
        # A generator makes requests send the body chunked, with no Content-Length to refuse up front.
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n"
               "Content-Type: video/mp4\r\n\r\n").encode()
        for _ in range(200):
            yield b"\0" * 10_000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = requests.post(f"{gateway_server.url}/upload", data=chunked_body(), timeout=30,
                             headers={**user.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert list(upload_dir.iterdir()) == []


def test_over_http_readiness_reports_every_dependency(gateway_server):
    response = requests.get(f"{gateway_server.url}/readyz", timeout=30)

    assert response.status_code == 200
    assert response.json()["checks"] == {"mongodb": True, "broker": True, "jwks": True}


def test_gunicorn_stops_cleanly_on_sigterm(gateway_server):
    assert gateway_server.stop() == 0
