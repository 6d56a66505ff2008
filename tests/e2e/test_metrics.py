"""Every service's /metrics after one upload through the real system: the text parses with
prometheus_client's own parser, and the counters and histograms moved by exactly what the
upload did. The gateway and auth run under gunicorn with two workers each, so their numbers are
the workers' files added up (multiprocess mode)."""
import time
import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_video

SETTLE_SECONDS = 60


def scrape(url):
    """``{(sample name, frozenset of labels): value}`` of the metrics at ``url``."""
    response = requests.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before, after):
    """What changed between two scrapes, as ``{(name, labels): difference}``."""
    return {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}


def wait_for_moves(url, before, expected):
    """Scrape until every sample in ``expected`` has moved by at least its amount; return the last scrape.

    The workers count a message as handled just after the work the test waits for; this waits for
    that count to arrive rather than for a guessed time.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        after = scrape(url)
        changes = moved(before, after)
        if all(changes.get(key, 0.0) >= amount for key, amount in expected.items()) or time.monotonic() > deadline:
            return after
        time.sleep(0.2)


def key(name, **labels):
    return (name, frozenset(labels.items()))


@pytest.fixture
def urls(system):
    def base(service):
        return system[service].health_url.rsplit("/", 1)[0]

    return {"gateway": system.gateway_url, "auth": system.auth_url,
            "converter": base("converter"), "notification": base("notification")}


def test_one_upload_moves_every_services_metrics_by_exactly_what_it_did(system, urls, mail, tmp_path):
    source = make_video(tmp_path / "metered.mp4", seconds=4)
    before = {service: scrape(url) for service, url in urls.items()}

    email = f"metered-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery"
    assert requests.post(f"{system.gateway_url}/register", json={"email": email, "password": password},
                         timeout=10).status_code == 201
    token = requests.post(f"{system.gateway_url}/login", auth=(email, password), timeout=10).text.strip()
    headers = {"Authorization": f"Bearer {token}"}
    with source.open("rb") as video:
        response = requests.post(f"{system.gateway_url}/upload", headers=headers,
                                 files={"file": (source.name, video)}, timeout=60)
    assert response.status_code == 202, response.text
    mail.wait_for(email, timeout=120)
    status_url = f"{system.gateway_url}/jobs/{response.json()['job_id']}"
    job = requests.get(status_url, headers=headers, timeout=10).json()
    deadline = time.monotonic() + SETTLE_SECONDS
    while "notified" not in job["steps"] and time.monotonic() < deadline:
        time.sleep(0.2)
        job = requests.get(status_url, headers=headers, timeout=10).json()
    assert set(job["steps"]) == {"uploaded", "picked_up", "fetched", "converted", "stored", "notified"}
    mp3 = requests.get(f"{system.gateway_url}/download", params={"fid": job["mp3_fid"]}, headers=headers,
                       timeout=30).content
    video_bytes, mp3_bytes = source.stat().st_size, len(mp3)

    gateway = {
        key("mp3_uploads_accepted_total"): 1,
        key("http_requests_total", route="/upload", method="POST", status_class="2xx"): 1,
        key("http_requests_total", route="/register", method="POST", status_class="2xx"): 1,
        key("http_requests_total", route="/login", method="POST", status_class="2xx"): 1,
        key("http_request_duration_seconds_count", route="/upload"): 1,
        key("mp3_job_step_duration_seconds_count", step="upload"): 1,
        key("mp3_messages_published_total", queue="video"): 1,
        key("mp3_messages_confirmed_total", queue="video"): 1,
        key("mp3_gridfs_written_bytes_total", bucket="videos"): video_bytes,
        key("mp3_gridfs_read_bytes_total", bucket="mp3s"): mp3_bytes,
    }
    auth = {
        key("http_requests_total", route="/register", method="POST", status_class="2xx"): 1,
        key("http_requests_total", route="/login", method="POST", status_class="2xx"): 1,
        key("http_request_duration_seconds_count", route="/login"): 1,
    }
    converter = {
        key("mp3_conversions_total", outcome="done", reason=""): 1,
        **{key("mp3_job_step_duration_seconds_count", step=step): 1
           for step in ("queue_wait", "fetch", "convert", "store")},
        key("mp3_conversion_speed_ratio_count"): 1,
        key("mp3_messages_handled_total", queue="video", outcome="acked"): 1,
        key("mp3_messages_published_total", queue="mp3"): 1,
        key("mp3_messages_confirmed_total", queue="mp3"): 1,
        key("mp3_gridfs_read_bytes_total", bucket="videos"): video_bytes,
        key("mp3_gridfs_written_bytes_total", bucket="mp3s"): mp3_bytes,
    }
    notification = {
        key("mp3_emails_sent_total"): 1,
        key("mp3_job_step_duration_seconds_count", step="notify"): 1,
        key("mp3_messages_handled_total", queue="mp3", outcome="acked"): 1,
    }
    for service, expected in [("gateway", gateway), ("auth", auth), ("converter", converter),
                              ("notification", notification)]:
        after = wait_for_moves(urls[service], before[service], expected)
        changes = moved(before[service], after)
        assert {name: changes.get(name, 0.0) for name in expected} == expected, service
        # Nothing failed, was retried, refused or dead-lettered on the way.
        unexpected = {name: change for name, change in changes.items()
                      if any(word in name[0] for word in ("refused", "nacked", "failed", "redelivered"))
                      or ("outcome", "acked") not in name[1] and name[0] == "mp3_messages_handled_total"}
        assert unexpected == {}, service

    after = scrape(urls["converter"])
    # The step histograms are fed from the job's own timestamps: their sums hold the steps' time.
    steps_seconds = (value(after, "mp3_job_step_duration_seconds_sum", step="convert")
                     - value(before["converter"], "mp3_job_step_duration_seconds_sum", step="convert"))
    assert 0 < steps_seconds < 120
    # The default collectors: the workers are single processes and export their process metrics.
    assert value(after, "process_cpu_seconds_total") > 0


@pytest.mark.parametrize("filename, content, reason", [
    ("empty.mp4", b"", "empty_file"),
    ("notes.mp4", b"these are not the frames you are looking for\n" * 20, "unsupported_media"),
])
def test_a_refused_upload_is_counted_under_its_reason(system, filename, content, reason):
    email = f"refused-{uuid.uuid4().hex[:10]}@example.com"
    assert requests.post(f"{system.gateway_url}/register", json={"email": email, "password": "correct horse"},
                         timeout=10).status_code == 201
    token = requests.post(f"{system.gateway_url}/login", auth=(email, "correct horse"), timeout=10).text.strip()
    before = scrape(system.gateway_url)

    response = requests.post(f"{system.gateway_url}/upload", headers={"Authorization": f"Bearer {token}"},
                             files={"file": (filename, content)}, timeout=30)

    assert response.status_code == 422 and response.json()["error"]["code"] == reason
    changes = moved(before, scrape(system.gateway_url))
    assert changes.get(key("mp3_uploads_refused_total", reason=reason)) == 1
    assert key("mp3_uploads_accepted_total") not in changes
    assert changes.get(key("http_requests_total", route="/upload", method="POST", status_class="4xx")) == 1


def test_a_request_without_a_token_is_refused_as_missing_token(system):
    before = scrape(system.gateway_url)

    response = requests.post(f"{system.gateway_url}/upload", files={"file": ("talk.mp4", b"x")}, timeout=10)

    assert response.status_code == 401
    assert moved(before, scrape(system.gateway_url)).get(key("mp3_uploads_refused_total", reason="missing_token")) == 1
