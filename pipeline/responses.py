"""What every HTTP answer of the project carries, whichever route or error handler made it.

Set once, in an after_request hook of each Flask app (gateway and auth), rather than per route: a
route added later gets the same headers without anyone remembering them.
"""

from __future__ import annotations

from flask import Flask, Response, request

SECURITY_HEADERS = {
    # Browsers must take the Content-Type as sent: an uploaded file's name never turns a JSON
    # answer or an MP3 into a page that runs script.
    "X-Content-Type-Options": "nosniff",
    # A download link carries its signature in the query string; no page of ours hands it to
    # another site in a Referer header.
    "Referrer-Policy": "no-referrer",
}


def init_app(app: Flask) -> None:
    """Add the headers to every response of ``app``; call before the blueprints are registered."""
    # Flask answers OPTIONS on every route by itself, with 200 and an Allow header. Nothing here
    # serves cross-origin requests, so OPTIONS is a method like TRACE that no route has: 405
    # with the JSON error. The setting is read as each route is added, hence before them.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.after_request(_add_headers)


def _add_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    # An answer to a request with credentials is that user's (their jobs, a token): no cache, in
    # the browser or on the way, may keep it. A route that says otherwise keeps its own.
    if "Authorization" in request.headers and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response
