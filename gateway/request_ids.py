"""The request id: taken from the client's X-Request-ID or made up, logged, and handed back.

It becomes the job's correlation id, so one grep follows an upload through all four services.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from pipeline import logs

HEADER = "X-Request-ID"
# Accept a client's id only if it is short and plain, so it cannot inject anything into the logs
# or the messages (whose schema allows 1..128 characters).
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def init_app(app: Flask) -> None:
    """Give every request an id, set it as the logs' correlation id, and return it as a header."""
    app.before_request(_start)
    app.after_request(_echo)
    app.teardown_request(_finish)


def _start() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    g.correlation_token = logs.correlation_id.set(g.request_id)


def _echo(response: Response) -> Response:
    if "request_id" in g:
        response.headers[HEADER] = g.request_id
    return response


def _finish(error: BaseException | None) -> None:
    # Worker threads serve many requests; reset so the id never leaks into the next one's logs.
    if "correlation_token" in g:
        logs.correlation_id.reset(g.pop("correlation_token"))
