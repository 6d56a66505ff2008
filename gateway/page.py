"""GET /: the web page for people, served from web/ beside this file, with the policy the
browser holds it to.

The page is a client of the same public API curl uses (/register, /login, /upload, /jobs,
/download); nothing here gives it powers of its own. Its script, style and icon are Flask's static
files, at /static/<name> (create_app points the static folder at web/): Flask's route refuses
paths outside the folder and lists no directory, and the JSON error handler answers its 404s.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, request

bp = Blueprint("page", __name__)

WEB_DIR = Path(__file__).with_name("web")
STATIC_URL_PATH = "/static"
PAGE_ENDPOINTS = ("page.index", "static")

# Only the page's own files may run, style or load, and nothing inline: a file name or an error
# message that somehow reached the page as markup could not execute. The API is same-origin, so
# connect-src 'self' (from default-src) covers every call the page makes; a download becomes a
# blob: URL the page creates itself, which only the link it clicks uses (not fetched, not shown).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    # No plugin content and no <base> that would point relative URLs elsewhere.
    "object-src 'none'",
    "base-uri 'none'",
    # The forms are sent by script; should one ever be submitted natively, it stays here.
    "form-action 'self'",
    # No other site may frame the page and trick a click on Delete (clickjacking).
    "frame-ancestors 'none'",
])


@bp.get("/")
def index() -> Response:
    """The page: sign in, upload, follow and download jobs."""
    return current_app.send_static_file("index.html")


@bp.after_app_request
def _page_headers(response: Response) -> Response:
    if request.endpoint in PAGE_ENDPOINTS:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        # Kept by the browser but checked (ETag) on each load, so a new release is picked up at
        # once instead of after a heuristic cache lifetime.
        response.headers["Cache-Control"] = "no-cache"
    return response
