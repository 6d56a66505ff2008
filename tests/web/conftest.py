"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, pages that record
every console error, axe-core, and screenshots.

The page is the one the gateway serves, in front of the four services started as real processes
(the `system` fixture of tests/conftest.py, shared with the end-to-end tests).
"""
import base64
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import REPO

# Debian's Chromium, installed by scripts/browser.sh; Playwright's own browser build is not used.
CHROMIUM = Path("/usr/bin/chromium")
# The version scripts/browser.sh fetches and checks.
AXE_SCRIPT = REPO / ".cache" / "axe-core" / "4.14.1" / "axe.min.js"
# Written by the tests, git-ignored; docs/web-page.png is a copy of one of them.
SCREENSHOTS = REPO / ".cache" / "screenshots"
# Generous: two cores shared with other test runs. Every wait is for an event, never a pause.
TIMEOUT_MS = 60_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists() or not AXE_SCRIPT.exists():
        pytest.fail(f"{CHROMIUM} or {AXE_SCRIPT.relative_to(REPO)} is missing: run `make browser` "
                    "(scripts/browser.sh, as root) first")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


@dataclass
class BrowserPage:
    """A Playwright page on the gateway, with every console error and page error it produced."""

    page: object
    url: str
    console_errors: list = field(default_factory=list)

    def open(self):
        self.page.goto(self.url)
        return self.page

    def unexpected_errors(self, *expected_statuses):
        """The console errors, less the browser's note on each answer with an expected status.

        Chromium logs "Failed to load resource: the server responded with a status of 422" for
        every 4xx; when a test provokes one on purpose, that line is not a fault of the page.
        """
        notes = tuple(f"the server responded with a status of {status}" for status in expected_statuses)
        return [error for error in self.console_errors if not (notes and any(note in error for note in notes))]

    def token(self):
        """The bearer token the page holds for its session, as it stored it."""
        stored = self.page.evaluate("() => sessionStorage.getItem('mp3-converter.session')")
        return json.loads(stored)["token"] if stored else None


@pytest.fixture
def make_page(browser, system):
    """Open the page at a viewport size: ``make_page(PHONE)``."""
    contexts = []

    def make(viewport=DESKTOP, base_url=None):
        context = browser.new_context(viewport=viewport, accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        opened = BrowserPage(page=page, url=base_url or system.gateway_url)
        page.on("console", lambda message: message.type == "error" and opened.console_errors.append(
            f"{message.text} ({message.location.get('url')})"))
        page.on("pageerror", lambda error: opened.console_errors.append(f"page error: {error}"))
        return opened

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def new_email():
    return f"web-{uuid.uuid4().hex[:10]}@example.com"


def serious_accessibility_violations(page):
    """axe-core's serious and critical violations on the page as it is now."""
    # Evaluated through the DevTools protocol, not added as a <script>: the page's CSP rightly
    # refuses inline scripts, and bypassing it for the test would hide any violation of ours.
    page.evaluate(AXE_SCRIPT.read_text() + "\n;undefined")
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": violation["id"], "impact": violation["impact"], "help": violation["help"],
         "targets": [node["target"] for node in violation["nodes"]]}
        for violation in results["violations"] if violation["impact"] in ("serious", "critical")
    ]


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def drop_file(page, selector, path):
    """Drop ``path`` on the element, as a file dragged from the desktop arrives: a drop event
    whose DataTransfer holds the file."""
    content = base64.b64encode(path.read_bytes()).decode("ascii")
    transfer = page.evaluate_handle(
        """([name, content]) => {
            const bytes = Uint8Array.from(atob(content), (char) => char.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: "video/mp4"}));
            return transfer;
        }""",
        [path.name, content],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(selector, event, {"dataTransfer": transfer})
