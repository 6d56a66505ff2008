"""A user of the gateway, as the bench plays one: register, log in, upload, follow a job, download.

Uploads are streamed from disk with a Content-Length, as a browser sends them: requests'
own `files=` builds the whole multipart body in memory, which for the 1 GB file would measure
the bench rather than the gateway.
"""
from __future__ import annotations

import datetime
import email.parser
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

UPLOAD_CHUNK_BYTES = 1024 * 1024
REQUEST_TIMEOUT_SECONDS = 30
# A 1 GB upload into the local MongoDB-protocol server can take minutes.
UPLOAD_TIMEOUT_SECONDS = 900


class StreamedUpload:
    """A multipart/form-data body with one file part, read from disk a chunk at a time.

    ``sent_at`` is the wall-clock time the last byte left the client.
    """

    def __init__(self, path: Path, field_name="file"):
        self.path = Path(path)
        self.boundary = uuid.uuid4().hex
        self._head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field_name}"; filename="{self.path.name}"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.sent_at = None

    @property
    def content_type(self):
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self):
        # requests sends a Content-Length (not chunked encoding) for a body that has a length.
        return len(self._head) + os.path.getsize(self.path) + len(self._tail)

    def __iter__(self):
        yield self._head
        with open(self.path, "rb") as video:
            while chunk := video.read(UPLOAD_CHUNK_BYTES):
                yield chunk
        yield self._tail
        self.sent_at = time.time()


@dataclass
class Upload:
    job_id: str
    started_at: float
    body_sent_at: float
    accepted_at: float


class UploadRefused(Exception):
    """The gateway did not answer 202 to an upload."""


class Client:
    """One user's session with the gateway (a requests.Session: one keep-alive connection)."""

    def __init__(self, gateway_url, email, token):
        self.gateway_url = gateway_url
        self.email = email
        self.token = token
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def register(cls, gateway_url):
        """Register a new user with a unique address, log in, and return their client."""
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        password = f"bench {uuid.uuid4().hex}"
        response = requests.post(f"{gateway_url}/register", json={"email": email, "password": password},
                                 timeout=REQUEST_TIMEOUT_SECONDS)
        response.raise_for_status()
        login = requests.post(f"{gateway_url}/login", auth=(email, password), timeout=REQUEST_TIMEOUT_SECONDS)
        login.raise_for_status()
        return cls(gateway_url, email, login.text.strip())

    def another_session(self):
        """The same user on a connection of its own, for a concurrent client."""
        return Client(self.gateway_url, self.email, self.token)

    def upload(self, path) -> Upload:
        body = StreamedUpload(path)
        started_at = time.time()
        response = self.session.post(f"{self.gateway_url}/upload", data=body,
                                     headers={"Content-Type": body.content_type},
                                     timeout=UPLOAD_TIMEOUT_SECONDS)
        accepted_at = time.time()
        if response.status_code != 202:
            raise UploadRefused(f"upload of {Path(path).name} answered {response.status_code}: {response.text[:300]}")
        return Upload(job_id=response.json()["job_id"], started_at=started_at,
                      body_sent_at=body.sent_at or accepted_at, accepted_at=accepted_at)

    def job(self, job_id):
        response = self.session.get(f"{self.gateway_url}/jobs/{job_id}", timeout=REQUEST_TIMEOUT_SECONDS)
        response.raise_for_status()
        return response.json()

    def download(self, mp3_fid, target: Path):
        """Save the MP3 to ``target``; return its Content-Type."""
        with self.session.get(f"{self.gateway_url}/download", params={"fid": mp3_fid}, stream=True,
                              timeout=REQUEST_TIMEOUT_SECONDS) as response:
            response.raise_for_status()
            with open(target, "wb") as mp3:
                for chunk in response.iter_content(UPLOAD_CHUNK_BYTES):
                    mp3.write(chunk)
            return response.headers.get("Content-Type")


def step_times(job):
    """The job's step timestamps (uploaded, picked_up, ...) as unix seconds."""
    return {step: datetime.datetime.fromisoformat(moment).timestamp()
            for step, moment in (job.get("steps") or {}).items() if moment}


class MailWatcher:
    """Finds the notification emails in the bench's own Maildir, keyed by job id.

    The notification service gives each job's email the Message-ID `<job-{job_id}@mp3-converter>`.
    An email's arrival time is its file's modification time: when the SMTP sink wrote it.
    """

    def __init__(self, maildir: Path):
        self._new = Path(maildir) / "new"
        self._seen = set()
        self.arrivals = {}  # job id -> unix seconds
        self._parser = email.parser.BytesHeaderParser()

    def poll(self):
        try:
            names = os.listdir(self._new)
        except FileNotFoundError:
            return self.arrivals
        for name in names:
            if name in self._seen:
                continue
            path = self._new / name
            with open(path, "rb") as message_file:
                headers = self._parser.parse(message_file)
            self._seen.add(name)
            message_id = (headers.get("Message-ID") or "").strip()
            if message_id.startswith("<job-") and message_id.endswith("@mp3-converter>"):
                self.arrivals[message_id[len("<job-"):-len("@mp3-converter>")]] = path.stat().st_mtime
        return self.arrivals
