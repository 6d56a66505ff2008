"""Fixtures for the gateway's tests: the app on the real MongoDB and a RabbitMQ vhost of its own,
users with tokens signed by a test key, and a small real HTTP server standing in for auth.

The stand-in for auth is the only thing not the real service, and it is still real HTTP: it
publishes a JWKS of test Ed25519 keys and answers /login and /register the way auth does, so the
gateway's own code (PyJWKClient, requests) runs unchanged.
"""
import base64
import dataclasses
import hashlib
import http.server
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway import create_app, services
from gateway.settings import Settings
from mp3common import broker, messages, storage
from mp3common.jobs import Jobs
from tests.conftest import free_port, make_video, run_stack, stored_fids

ISSUER = "mp3-auth"
AUDIENCE = "mp3-gateway"
JWKS_PATH = "/.well-known/jwks.json"
LOGIN_EMAIL = "known@example.com"
LOGIN_PASSWORD = "correct horse battery"
LOGIN_TOKEN = "header.payload.signature"
TAKEN_EMAIL = "taken@example.com"
# auth answers a login for this account as it does after too many failed logins.
THROTTLED_EMAIL = "throttled@example.com"
THROTTLED_RETRY_AFTER = "600"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Signer:
    """An Ed25519 key that signs tokens the way auth does (EdDSA, kid = JWK thumbprint)."""

    def __init__(self):
        self.private_key = Ed25519PrivateKey.generate()
        raw = self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
        canonical = json.dumps(self.jwk, separators=(",", ":"), sort_keys=True)
        self.kid = b64url(hashlib.sha256(canonical.encode()).digest())
        self.jwk = {**self.jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def claims(self, user_id, email, lifetime=3600, **changes):
        """Claims as auth issues them; a change to None leaves that claim out."""
        now = int(time.time())
        claims = {"sub": str(user_id), "email": email, "iat": now, "exp": now + lifetime,
                  "iss": ISSUER, "aud": AUDIENCE, **changes}
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, user_id, email, kid=None, **changes):
        return jwt.encode(self.claims(user_id, email, **changes), self.private_key, algorithm="EdDSA",
                          headers={"kid": kid or self.kid})

    def public_pem(self):
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class AuthStandIn:
    """A real HTTP server on a free loopback port with auth's JWKS, /login and /register."""

    def __init__(self):
        self.published = []
        self.jwks_fetches = 0
        self.last_request_headers = {}
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != JWKS_PATH:
                    return self._reply(404, {"error": {"code": "not_found", "message": "no"}})
                stand_in.jwks_fetches += 1
                self._reply(200, {"keys": [signer.jwk for signer in stand_in.published]})

            def do_POST(self):
                stand_in.last_request_headers = dict(self.headers)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/login":
                    expected = base64.b64encode(f"{LOGIN_EMAIL}:{LOGIN_PASSWORD}".encode()).decode()
                    throttled = base64.b64encode(f"{THROTTLED_EMAIL}:{LOGIN_PASSWORD}".encode()).decode()
                    if self.headers.get("Authorization") == f"Basic {throttled}":
                        refusal = {"error": {"code": "login_throttled", "message": "Too many failed logins."}}
                        return self._reply(429, refusal, headers={"Retry-After": THROTTLED_RETRY_AFTER})
                    if self.headers.get("Authorization") == f"Basic {expected}":
                        return self._reply(200, LOGIN_TOKEN, content_type="text/plain; charset=utf-8",
                                           headers={"Cache-Control": "no-store"})
                    refusal = {"error": {"code": "invalid_credentials", "message": "The email or password is wrong."}}
                    return self._reply(401, refusal, headers={"WWW-Authenticate": 'Basic realm="mp3"'})
                if self.path == "/register":
                    email = json.loads(body)["email"]
                    if email == TAKEN_EMAIL:
                        return self._reply(409, {"error": {"code": "email_taken", "message": "Taken."}})
                    return self._reply(201, {"id": 7, "email": email})
                self._reply(404, {"error": {"code": "not_found", "message": "no"}})

            def _reply(self, status, body, content_type="application/json", headers=None):
                payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="auth-stand-in", daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def auth_server():
    server = AuthStandIn()
    yield server
    server.close()


@pytest.fixture(scope="session")
def signer():
    return Signer()


@pytest.fixture(autouse=True)
def published_keys(auth_server, signer):
    """Each test starts with exactly the session's key published."""
    auth_server.published[:] = [signer]
    return auth_server.published


@dataclasses.dataclass
class User:
    id: int
    email: str
    token: str

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}


def forget_owner(mongo_client, owner_id):
    """Delete every job and blob of ``owner_id``: the databases are shared with other tests."""
    for database in (storage.VIDEOS_DB, storage.MP3S_DB):
        bucket = storage.Bucket(mongo_client, database)
        for fid in stored_fids(mongo_client, database, owner_id=owner_id):
            bucket.delete(fid)
    jobs = Jobs(mongo_client)
    for job in mongo_client["jobs"]["jobs"].find({"owner_id": owner_id}, {"_id": 1}):
        jobs.delete(job["_id"])
    mongo_client["jobs"]["idempotency_keys"].delete_many({"_id": {"$regex": f"^{owner_id}:"}})


@pytest.fixture
def make_user(signer, mongo_client):
    """Make users with ids no other test uses, and remove everything they stored afterwards."""
    made = []

    def make():
        # Random ids: MongoDB's databases are shared with other engineers' test runs.
        user_id = uuid.uuid4().int % 10**12 + 1
        email = f"user-{user_id}@example.com"
        user = User(id=user_id, email=email, token=signer.token(user_id, email))
        made.append(user)
        return user

    yield make
    for user in made:
        forget_owner(mongo_client, user.id)


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def other_user(make_user):
    return make_user()


@pytest.fixture(scope="session")
def gateway_amqp_url(stack):
    """A RabbitMQ vhost for the gateway's tests alone.

    Not the session's `amqp_url`: the end-to-end tests run a converter on that one, which would
    consume the messages these tests count.
    """
    vhost = f"test-gateway-{uuid.uuid4().hex[:12]}"
    run_stack("rabbitmqctl", "add_vhost", vhost)
    run_stack("rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"amqp://guest:guest@127.0.0.1:{stack.rabbitmq_port}/{vhost}"
    run_stack("rabbitmqctl", "delete_vhost", vhost)


@pytest.fixture(scope="session")
def link_secret_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gateway-secrets") / "download-link.key"
    path.write_text(os.urandom(32).hex() + "\n")
    return path


@pytest.fixture
def upload_dir(tmp_path):
    directory = tmp_path / "uploads"
    directory.mkdir()
    return directory


@pytest.fixture
def closed_port():
    """A loopback port where nothing listens: a server that is down."""
    return free_port()


@pytest.fixture
def gateway_env(gateway_amqp_url, mongo_uri, auth_server, link_secret_file, upload_dir):
    """The environment the gateway reads, pointed at the test servers."""
    return {
        "ENVIRONMENT": "development",
        "AMQP_URL": gateway_amqp_url,
        "MONGODB_URI": mongo_uri,
        "AUTH_URL": auth_server.url,
        "DOWNLOAD_LINK_SECRET_FILE": str(link_secret_file),
        "UPLOAD_DIR": str(upload_dir),
        # The counters live in MongoDB, shared by every test and every test run on this machine,
        # and most tests come from 127.0.0.1: only the rate-limit tests set limits that bite.
        "LOGIN_RATE_LIMIT": "100000/60",
        "REGISTER_RATE_LIMIT": "100000/60",
        "UPLOAD_RATE_LIMIT": "100000/60",
    }


@pytest.fixture
def make_app(gateway_env):
    """Build a gateway app from the test environment with some variables changed."""
    apps = []

    def make(**changes):
        app = create_app(Settings.from_env({**gateway_env, **changes}))
        apps.append(app)
        return app

    yield make
    for app in apps:
        services.close(app)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


class VideoQueue:
    """The `video` queue of the gateway's test vhost, read the way a consumer would see it."""

    def __init__(self, amqp_url):
        self.connection = broker.connect(amqp_url)
        self.channel = self.connection.channel()
        broker.declare_topology(self.channel, max_deliveries=3)
        self.channel.queue_purge(messages.VIDEO_QUEUE)

    def take_all(self):
        """Remove and return every message waiting, as (properties, decoded body) pairs."""
        taken = []
        while True:
            method, properties, body = self.channel.basic_get(messages.VIDEO_QUEUE)
            if method is None:
                return taken
            self.channel.basic_ack(method.delivery_tag)
            taken.append((properties, json.loads(body)))

    def close(self):
        self.connection.close()


@pytest.fixture
def video_queue(gateway_amqp_url):
    queue = VideoQueue(gateway_amqp_url)
    yield queue
    queue.close()


@dataclasses.dataclass(frozen=True)
class MediaFiles:
    talk: Path
    silent: Path
    text: Path
    mp3: Path


@pytest.fixture(scope="session")
def media_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("media")
    text = directory / "notes.mp4"
    text.write_text("These are meeting notes, not a video.\n" * 20)
    mp3 = directory / "tone.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-c:a", "libmp3lame", "-b:a", "64k", str(mp3)], check=True)
    return MediaFiles(
        talk=make_video(directory / "talk.mp4", seconds=2),
        silent=make_video(directory / "silent.mp4", seconds=2, audio=False),
        text=text,
        mp3=mp3,
    )


@dataclasses.dataclass
class StoredMp3:
    job_id: str
    fid: str
    content: bytes


@pytest.fixture
def store_mp3(mongo_client, media_files):
    """Put an MP3 and its finished job straight into MongoDB, as the converter leaves them."""

    def store(owner, mp3_name="talk.mp3", source_name="talk.mp4"):
        jobs = Jobs(mongo_client)
        job_id = uuid.uuid4().hex
        content = media_files.mp3.read_bytes()
        with media_files.talk.open("rb") as video:
            video_fid = storage.Bucket(mongo_client, storage.VIDEOS_DB).put(
                video, source_name, {"job_id": job_id, "owner_id": owner.id, "filename": source_name})
        with media_files.mp3.open("rb") as mp3:
            fid = storage.Bucket(mongo_client, storage.MP3S_DB).put(
                mp3, mp3_name, {"job_id": job_id, "owner_id": owner.id, "filename": mp3_name})
        jobs.create(job_id=job_id, owner_id=owner.id, email=owner.email, filename=source_name, preset=None,
                    video_fid=video_fid, correlation_id="test")
        jobs.mark_converting(job_id)
        jobs.record_mp3(job_id, fid)
        jobs.mark_done(job_id)
        return StoredMp3(job_id=job_id, fid=fid, content=content)

    return store
