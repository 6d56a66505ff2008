"""The web page in a real browser (Debian's Chromium, driven by Playwright), against the four
services running as real processes: what a person does on it, with the mouse and with the
keyboard, at desktop and at phone width.

Every wait is for something the page shows or records, with generous timeouts; none is a pause.
"""
import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import free_port, make_video, media_duration, service_process
from tests.faults.test_poison_input import corrupted_in_the_middle
from tests.web.conftest import (
    PASSWORD,
    PHONE,
    drop_file,
    screenshot,
    serious_accessibility_violations,
)

# A conversion on a loaded two-core machine can wait behind other tests' jobs.
JOB_DONE_TIMEOUT_MS = 240_000
# The upload is slowed to this many bytes a second, so the bar has time to move in steps that
# the page records; on loopback a small file is otherwise sent in one go.
UPLOAD_BYTES_PER_SECOND = 48 * 1024
SESSION_ENDED = "Your session has ended; sign in again."

# Above pytest.ini's 300 s: the story waits for a conversion on a machine shared with other runs.
pytestmark = pytest.mark.timeout(600)

# Records every value the upload bar takes, and every state text a job shows, as the page sets
# them: the test reads what happened instead of sampling the screen at moments it guessed.
RECORD_PAGE_CHANGES = """() => {
    window.uploadProgressSeen = [];
    const bar = document.getElementById("upload-bar");
    new MutationObserver(() => window.uploadProgressSeen.push(
        [Number(bar.value), Number(bar.max), bar.labels[0].textContent],
    )).observe(bar, {attributes: true, attributeFilter: ["value"]});
    window.jobStatesSeen = [];
    const jobs = document.getElementById("jobs");
    new MutationObserver(() => {
        for (const state of jobs.querySelectorAll(".job-state")) {
            const last = window.jobStatesSeen[window.jobStatesSeen.length - 1];
            if (last !== state.textContent) window.jobStatesSeen.push(state.textContent);
        }
    }).observe(jobs, {subtree: true, childList: true, characterData: true});
    // Gone if the page were reloaded: proof that the job list changed in place.
    window.sameDocument = true;
}"""


def sign_up(page, email):
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account", exact=True).click()
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()


def limit_uploads(devtools, bytes_per_second):
    """Slow the page's uploads through the DevTools protocol (-1: no limit)."""
    devtools.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_second,
    })


def test_the_whole_story_sign_up_upload_watch_download_delete_sign_out(make_page, new_email, system, tmp_path):
    opened = make_page()
    page = opened.open()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    screenshot(page, "signed-out")
    assert serious_accessibility_violations(page) == []

    # Create an account (which signs in), sign out, and sign in again with the same password.
    sign_up(page, new_email)
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Signed out.")).to_be_visible()
    page.get_by_label("Email", exact=True).fill(new_email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text(f"Signed in as {new_email}")).to_be_visible()
    expect(page.get_by_text("No jobs yet")).to_be_visible()

    # Upload, slowed down, and watch the bar move.
    video = make_video(tmp_path / "talk.mp4", seconds=6, size="640x480")
    page.evaluate(RECORD_PAGE_CHANGES)
    devtools = page.context.new_cdp_session(page)
    devtools.send("Network.enable")
    limit_uploads(devtools, UPLOAD_BYTES_PER_SECOND)
    page.get_by_label("Video", exact=True).set_input_files(video)
    page.get_by_label("Quality", exact=True).select_option("192k")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_function("() => window.uploadProgressSeen.some(([sent, total]) => sent > 0 && sent < total)")
    screenshot(page, "uploading")
    expect(page.get_by_text("talk.mp4 is uploaded and queued for conversion.")).to_be_visible()
    limit_uploads(devtools, -1)

    progress = page.evaluate("() => window.uploadProgressSeen")
    sent = [value for value, _, _ in progress]
    assert sent == sorted(sent), progress
    assert len({value for value in sent if 0 < value < progress[-1][1]}) >= 2, progress
    # The bar's total is the request's, the file plus the multipart envelope, and it ends full.
    assert progress[-1][0] == progress[-1][1] >= video.stat().st_size, progress
    # Its label, the bar's accessible name, says what is being sent and how far it is.
    assert all(label.startswith("Sending talk.mp4: ") for _, _, label in progress), progress
    assert progress[-1][2].startswith("Sending talk.mp4: 100% of "), progress

    # The job is in the list at once, and reaches done live, without a reload.
    job = page.locator("li.job").filter(has_text="talk.mp4")
    expect(job).to_have_count(1)
    expect(job.locator(".job-state")).to_have_text("Done", timeout=JOB_DONE_TIMEOUT_MS)
    assert page.evaluate("() => window.sameDocument") is True
    states = page.evaluate("() => window.jobStatesSeen")
    assert states[0] == "Queued" and states[-1] == "Done", states
    expect(job).to_contain_text("192 kbit/s")
    screenshot(page, "job-list")
    assert serious_accessibility_violations(page) == []

    # Download: the page fetches with its token and hands the browser the MP3.
    with page.expect_download() as download_info:
        job.get_by_role("button", name="Download", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == "talk.mp3"
    saved = tmp_path / "downloaded.mp3"
    download.save_as(saved)
    seconds, codec = media_duration(saved)
    assert codec == "mp3"
    assert abs(seconds - media_duration(video)[0]) <= 0.1

    # Delete: gone from the page and from the API.
    job_id = job.get_attribute("data-job-id")
    token = opened.token()
    job.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("li.job")).to_have_count(0)
    expect(page.get_by_text("Deleted talk.mp4.")).to_be_visible()
    response = requests.get(f"{system.gateway_url}/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"},
                            timeout=10)
    assert response.status_code == 404

    # Sign out: the session is gone from the tab, and was never in localStorage.
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_label("Email", exact=True)).to_be_visible()
    assert opened.token() is None
    assert page.evaluate("() => localStorage.length") == 0
    assert opened.unexpected_errors() == []


def test_a_video_without_sound_dropped_on_the_page_shows_the_422_message(make_page, new_email, tmp_path):
    opened = make_page()
    page = opened.open()
    sign_up(page, new_email)

    drop_file(page, "#drop-zone", make_video(tmp_path / "silent.mp4", seconds=2, audio=False))

    expect(page.get_by_role("alert")).to_have_text("The file has no audio track to convert.")
    expect(page.locator("li.job")).to_have_count(0)
    assert opened.unexpected_errors(422) == []


def test_a_job_that_fails_shows_its_plain_reason(make_page, new_email, tmp_path):
    opened = make_page()
    page = opened.open()
    sign_up(page, new_email)
    # Damaged past what the upload's probe reads: accepted, then failed by the converter.
    damaged = corrupted_in_the_middle(make_video(tmp_path / "good.mp4", seconds=10), tmp_path / "holiday.mp4")

    page.get_by_label("Video", exact=True).set_input_files(damaged)
    page.get_by_role("button", name="Upload", exact=True).click()

    job = page.locator("li.job").filter(has_text="holiday.mp4")
    expect(job.locator(".job-state")).to_have_text("Failed", timeout=JOB_DONE_TIMEOUT_MS)
    expect(job.locator(".job-error")).to_have_text("The audio track could not be decoded.")
    expect(job.get_by_role("button", name="Download", exact=True)).to_be_hidden()
    expect(job.get_by_role("button", name="Delete", exact=True)).to_be_visible()
    assert opened.unexpected_errors() == []


def test_an_upload_over_the_limit_shows_the_413_message_with_the_limit(make_page, new_email, system, tmp_path):
    # A gateway of its own with a small limit, on the same auth, MongoDB and RabbitMQ.
    port = free_port()
    gateway = service_process("gateway", port, {**system.env, "MAX_UPLOAD_BYTES": "50000"}, tmp_path).start()
    opened = make_page(base_url=f"http://127.0.0.1:{port}")
    try:
        page = opened.open()
        sign_up(page, new_email)
        video = make_video(tmp_path / "long.mp4", seconds=6, size="640x480")
        assert video.stat().st_size > 50000

        page.get_by_label("Video", exact=True).set_input_files(video)
        page.get_by_role("button", name="Upload", exact=True).click()

        expect(page.get_by_role("alert")).to_have_text("The request is larger than the limit of 50000 bytes.")
        assert opened.unexpected_errors(413) == []
    finally:
        # The browser's idle keep-alive connections first, or gunicorn waits out its graceful
        # timeout for them.
        opened.page.context.close()
        gateway.stop()


def test_a_refused_token_takes_the_user_back_to_sign_in(make_page, new_email):
    opened = make_page()
    page = opened.open()
    sign_up(page, new_email)

    # What an expired token looks like to the page: the API answers 401 to its next call.
    page.evaluate("""() => sessionStorage.setItem('mp3-converter.session',
        JSON.stringify({email: 'someone@example.com', token: 'not.a.token'}))""")
    page.reload()

    expect(page.get_by_role("alert")).to_have_text(SESSION_ENDED)
    expect(page.get_by_label("Email", exact=True)).to_be_visible()
    assert opened.token() is None
    assert opened.unexpected_errors(401) == []


def test_at_phone_width_everything_is_reached_with_the_keyboard_with_visible_focus(make_page, new_email):
    opened = make_page(PHONE)
    page = opened.open()

    def focused():
        return page.evaluate("""() => {
            const element = document.activeElement;
            const style = getComputedStyle(element);
            return {name: element.tagName === "BUTTON" ? element.textContent.trim() : element.id,
                    outline: style.outlineStyle,
                    width: parseFloat(style.outlineWidth)};
        }""")

    page.keyboard.press("Tab")
    assert focused()["name"] == "email"
    page.keyboard.type(new_email)
    page.keyboard.press("Tab")
    assert focused()["name"] == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert focused()["name"] == "Sign in"
    page.keyboard.press("Tab")
    # Reached by keyboard, so the focus ring shows.
    assert focused() == {"name": "Create account", "outline": "solid", "width": 3}
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"Signed in as {new_email}")).to_be_visible()

    # Focus moved to the upload form's heading; from there forward through the form, and
    # back past its start to Sign out.
    forward = []
    for _ in range(3):
        page.keyboard.press("Tab")
        forward.append(focused()["name"])
    assert forward == ["video", "quality", "Upload"]
    backward = []
    for _ in range(3):
        page.keyboard.press("Shift+Tab")
        backward.append(focused()["name"])
    assert backward == ["quality", "video", "Sign out"]
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "phone")
    assert serious_accessibility_violations(page) == []
    assert opened.unexpected_errors() == []
