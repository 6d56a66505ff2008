"""The user's story end to end, on the real stack with the four services as real processes:
register, log in, upload, get the email, download the MP3."""
import re
import time
import uuid

import pytest
import requests

from tests.conftest import make_video, media_duration, wait_until_sources_deleted

FID_LINE = re.compile(r"^fid: ([0-9a-f]{24})$", re.MULTILINE)
LINK = re.compile(r"(http://\S+/download\?\S+)")


def email_text(message):
    part = message.get_body(("plain",)) if hasattr(message, "get_body") else None
    if part is None:
        for candidate in message.walk():
            if candidate.get_content_type() == "text/plain":
                return candidate.get_payload(decode=True).decode()
        return message.get_payload(decode=True).decode()
    return part.get_content()


@pytest.fixture
def user(system):
    """A registered user and a bearer token obtained the way the README shows."""
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery"
    response = requests.post(f"{system.gateway_url}/register", json={"email": email, "password": password}, timeout=10)
    assert response.status_code == 201, response.text
    login = requests.post(f"{system.gateway_url}/login", auth=(email, password), timeout=10)
    assert login.status_code == 200, login.text
    return {"email": email, "token": login.text.strip(), "headers": {"Authorization": f"Bearer {login.text.strip()}"}}


def upload(system, user, path, **form):
    with open(path, "rb") as video:
        return requests.post(f"{system.gateway_url}/upload", headers=user["headers"],
                             files={"file": (path.name, video)}, data=form, timeout=60)


def test_uploaded_videos_arrive_as_mp3_by_email_with_the_source_duration(system, user, mail, tmp_path, mongo_client):
    sources = [
        make_video(tmp_path / "talk.mp4", seconds=20, video_codec="libx264", audio_codec="aac"),
        make_video(tmp_path / "clip.mkv", seconds=20, video_codec="libvpx-vp9", audio_codec="libopus"),
    ]
    job_ids = {}
    for source in sources:
        response = upload(system, user, source)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"
        job_ids[source.name] = response.json()["job_id"]

    emails = mail.wait_for(user["email"], count=2, timeout=120)
    by_subject = {message["Subject"]: email_text(message) for message in emails}
    for source in sources:
        mp3_name = source.with_suffix(".mp3").name
        [text] = [text for subject, text in by_subject.items() if mp3_name in subject]
        fid = FID_LINE.search(text).group(1)
        assert LINK.search(text), text

        download = requests.get(f"{system.gateway_url}/download", params={"fid": fid},
                                headers=user["headers"], timeout=30)
        assert download.status_code == 200, download.text
        assert download.headers["Content-Type"] == "audio/mpeg"
        assert int(download.headers["Content-Length"]) == len(download.content)
        assert mp3_name in download.headers["Content-Disposition"]
        result = tmp_path / f"downloaded-{mp3_name}"
        result.write_bytes(download.content)

        mp3_seconds, codec = media_duration(result)
        source_seconds, _ = media_duration(source)
        assert codec == "mp3"
        assert abs(mp3_seconds - source_seconds) <= 0.1, (mp3_seconds, source_seconds)

        job = requests.get(f"{system.gateway_url}/jobs/{job_ids[source.name]}", headers=user["headers"],
                           timeout=10).json()
        assert job["state"] == "done" and job["mp3_fid"] == fid
    # Exactly one email per upload, and the source videos are gone once their MP3s exist.
    assert len(mail.messages_to(user["email"])) == 2
    wait_until_sources_deleted(mongo_client, *job_ids.values())


def test_the_link_in_the_email_downloads_without_a_token(system, user, mail, tmp_path):
    response = upload(system, user, make_video(tmp_path / "short.mov", seconds=2))
    assert response.status_code == 202, response.text
    [message] = mail.wait_for(user["email"], timeout=60)
    link = LINK.search(email_text(message)).group(1)
    link = re.sub(r"^http://[^/]+", system.gateway_url, link)

    request_id = f"link-{uuid.uuid4().hex[:12]}"

    download = requests.get(link, headers={"X-Request-ID": request_id}, timeout=30)

    assert download.status_code == 200
    assert download.headers["Content-Type"] == "audio/mpeg"
    # Its access line leaves the signature out: whoever reads the logs cannot download the MP3.
    access_line = wait_for_log_line(system["gateway"].log_path, f"request_id={request_id}")
    signature = re.search(r"signature=([0-9a-f]+)", link).group(1)
    assert '"GET /download?fid=' in access_line and "&signature=- HTTP/1.1\" 200 " in access_line
    assert signature not in system["gateway"].log_path.read_text()


def wait_for_log_line(path, text, timeout=10):
    """The first line of the log at ``path`` with ``text``, once the service has written it."""
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in path.read_text().splitlines() if text in line]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no line with {text!r} in {path}"
        time.sleep(0.05)


def test_a_video_without_sound_is_refused_at_upload_with_422(system, user, tmp_path):
    silent = make_video(tmp_path / "silent.mp4", seconds=2, audio=False)

    response = upload(system, user, silent)

    assert response.status_code == 422
    assert response.json()["error"]["code"]


@pytest.mark.parametrize(
    "headers, code",
    [
        ({}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": "Basic Zm9vOmJhcg=="}, 401),
        ({"Authorization": "Bearer not.a.jwt"}, 401),
        ({"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."}, 401),
    ],
)
def test_upload_without_a_valid_token_is_refused_with_401(system, tmp_path, headers, code):
    video = make_video(tmp_path / "v.mp4", seconds=1)
    with open(video, "rb") as handle:
        response = requests.post(f"{system.gateway_url}/upload", headers=headers, files={"file": handle}, timeout=30)
    assert response.status_code == code
    assert "error" in response.json()


def test_upload_without_a_file_is_refused_with_400(system, user):
    response = requests.post(f"{system.gateway_url}/upload", headers=user["headers"], data={"x": "y"}, timeout=10)
    assert response.status_code == 400
    assert "error" in response.json()


def test_download_of_an_unknown_fid_is_404(system, user):
    for fid in ["0123456789abcdef01234567", "not-an-object-id"]:
        response = requests.get(f"{system.gateway_url}/download", params={"fid": fid}, headers=user["headers"],
                                timeout=10)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_405_with_json(system):
    response = requests.get(f"{system.gateway_url}/upload", timeout=10)
    assert response.status_code == 405
    assert "error" in response.json()


def test_one_request_id_follows_a_registration_and_a_login_through_the_gateway_into_auth(system):
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    register_id, login_id = f"req-{uuid.uuid4().hex[:12]}", f"req-{uuid.uuid4().hex[:12]}"

    registered = requests.post(f"{system.gateway_url}/register", json={"email": email, "password": "a long password"},
                               headers={"X-Request-ID": register_id}, timeout=10)
    login = requests.post(f"{system.gateway_url}/login", auth=(email, "a long password"),
                          headers={"X-Request-ID": login_id}, timeout=10)

    assert registered.status_code == 201 and login.status_code == 200
    assert (registered.headers["X-Request-ID"], login.headers["X-Request-ID"]) == (register_id, login_id)
    auth_log = system["auth"].log_path.read_text()
    # The application's own line carries the id as its correlation id, and so does the access line.
    assert f"[{register_id}] auth.users: Registered user" in auth_log
    assert '"POST /login HTTP/1.1" 200' in auth_log and f"request_id={login_id}" in auth_log


def test_one_correlation_id_follows_a_job_through_the_logs_of_all_four_services(system, mail, tmp_path):
    """docs/architecture.md, "Follow one job": one grep for the id finds the job's whole path."""
    email = f"follow-{uuid.uuid4().hex[:10]}@example.com"
    correlation_id = f"follow-{uuid.uuid4().hex[:12]}"
    traced = {"X-Request-ID": correlation_id}
    assert requests.post(f"{system.gateway_url}/register", json={"email": email, "password": "a long password"},
                         timeout=10).status_code == 201
    # A client that sends its own id with each request follows its login and its upload with it.
    token = requests.post(f"{system.gateway_url}/login", auth=(email, "a long password"), headers=traced,
                          timeout=10).text.strip()
    video = make_video(tmp_path / "followed.mp4", seconds=2)
    with video.open("rb") as handle:
        response = requests.post(f"{system.gateway_url}/upload", files={"file": handle},
                                 headers={**traced, "Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    mail.wait_for(email, timeout=120)

    def lines_of(service, wanted):
        # The one grep: every line whose correlation id field is the job's.
        deadline = time.monotonic() + 30
        while True:
            lines = [line for line in system[service].log_lines() if f"[{correlation_id}]" in line]
            if any(wanted in line for line in lines) or time.monotonic() > deadline:
                return lines

    for service, wanted in [("auth", "Issued a token"), ("gateway", f"queued job {job_id}"),
                            ("converter", f"job {job_id} done"),
                            ("notification", f"emailed the owner of job {job_id}")]:
        lines = lines_of(service, wanted)
        assert any(wanted in line for line in lines), (service, system[service].log_tail())
