"""The real service: gunicorn with auth/gunicorn.conf.py, spoken to over HTTP."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 30


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AuthServer:
    """`gunicorn -c auth/gunicorn.conf.py auth.wsgi:app` as a child process, output to a file."""

    def __init__(self, environ, log_path):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        env = {**os.environ, **environ, "AUTH_PORT": str(port),
               "PROMETHEUS_MULTIPROC_DIR": str(log_path.parent / "auth-metrics")}
        env.pop("GUNICORN_BIND", None)  # it would override AUTH_PORT
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "auth/gunicorn.conf.py", "auth.wsgi:app"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_healthy(self):
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                # Not listening yet, or too busy to answer within a second (a loaded CI machine).
                pass
            time.sleep(0.2)
        pytest.fail(f"gunicorn not healthy within {START_TIMEOUT_SECONDS}s:\n{self.log()}")

    def stop(self):
        """Stop gracefully with SIGTERM, as an orchestrator does; kill if that is ignored."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"gunicorn ignored SIGTERM for {STOP_TIMEOUT_SECONDS}s:\n{self.log()}")

    def log(self):
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def auth_server(environ, tmp_path):
    server = AuthServer(environ, tmp_path / "auth.log")
    try:
        server.wait_until_healthy()
        yield server
    finally:
        server.stop()


def test_a_user_registers_and_logs_in_over_http(auth_server):
    url = auth_server.url
    registered = requests.post(
        f"{url}/register",
        json={"email": "ann@example.com", "password": "correct horse"},
        timeout=10,
    )
    assert registered.status_code == 201, registered.text

    login = requests.post(f"{url}/login", auth=("ann@example.com", "correct horse"), timeout=10)
    assert login.status_code == 200, login.text
    assert login.headers["Content-Type"].startswith("text/plain")
    token = login.text

    # The gateway's way: fetch the JWKS over HTTP and pick the key by the token's kid.
    signing_key = jwt.PyJWKClient(f"{url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, signing_key, algorithms=["EdDSA"], audience="mp3-gateway", issuer="mp3-auth"
    )
    assert claims["sub"] == str(registered.json()["id"])

    refused = requests.post(f"{url}/login", auth=("ann@example.com", "wrong horse"), timeout=10)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="mp3"'


def test_the_logs_go_to_stdout_without_credentials(auth_server):
    requests.post(
        f"{auth_server.url}/register",
        json={"email": "ann@example.com", "password": "correct horse"},
        timeout=10,
    )
    token = requests.post(
        f"{auth_server.url}/login", auth=("ann@example.com", "correct horse"), timeout=10
    ).text

    auth_server.stop()
    log = auth_server.log()

    assert '"POST /login HTTP/1.1" 200' in log  # access lines
    assert "auth.users: Registered user" in log  # the application's own lines
    assert "correct horse" not in log
    assert "ann@example.com" not in log
    assert token not in log


def test_with_log_format_json_every_line_is_a_json_object_with_the_request_id(environ, tmp_path):
    server = AuthServer({**environ, "LOG_FORMAT": "json"}, tmp_path / "auth.log")
    try:
        server.wait_until_healthy()
        registered = requests.post(f"{server.url}/register", headers={"X-Request-ID": "json-req-1"},
                                   json={"email": "jo@example.com", "password": "correct horse"}, timeout=10)
        assert registered.status_code == 201
    finally:
        server.stop()

    records = [json.loads(line) for line in server.log().splitlines()]
    assert {record["service"] for record in records} == {"auth"}
    request_lines = [record for record in records if record["correlation_id"] == "json-req-1"]
    # The application's line and gunicorn's access line, both with the id the gateway would pass.
    assert {record["logger"] for record in request_lines} == {"auth.users", "gunicorn.access"}
