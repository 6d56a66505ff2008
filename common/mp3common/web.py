"""What the two HTTP services, gateway and auth, do alike: one JSON error shape, one request id
followed through both, and the headers every answer carries.

``init_app(app)`` registers it all; each service then adds the errors of its own domain, as
ApiError subclasses or with ``answer()``.
"""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from mp3common import logs

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is taken only if it is short and plain, so it cannot inject anything into the
# logs or the messages (whose schema allows 1..128 characters).
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

SECURITY_HEADERS = {
    # Browsers must take the Content-Type as sent: an uploaded file's name never turns a JSON
    # answer or an MP3 into a page that runs script.
    "X-Content-Type-Options": "nosniff",
    # A download link carries its signature in the query string; no page of ours hands it to
    # another site in a Referer header.
    "Referrer-Policy": "no-referrer",
}


class ApiError(Exception):
    """A failure the client can understand and fix, answered as `{"error": {"code", "message"}}`."""

    status = 400
    code = "bad_request"
    message = "The request could not be processed."
    headers: dict[str, str] = {}

    def __init__(self, message: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message
        if headers:
            self.headers = headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """Build the one JSON error shape every service in the project answers with."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    # For the metrics: a refusal is counted by its code, a short name from a fixed set.
    g.error_code = code
    response.headers.update(headers or {})
    return response


def answer(app: Flask, exception_class: type[BaseException], status: int, code: str, message: str | None = None,
           headers: dict[str, str] | None = None) -> None:
    """Answer ``exception_class`` with this status and code, and ``message`` or the exception's own."""

    def handler(error: Exception) -> Response:
        return error_response(status, code, message or str(error), headers)

    app.register_error_handler(exception_class, handler)


def init_app(app: Flask) -> None:
    """Give ``app`` the request id, the headers and the JSON errors; call before adding blueprints."""
    # Flask answers OPTIONS on every route by itself, with 200 and an Allow header. Nothing here
    # serves cross-origin requests, so OPTIONS is a method like TRACE that no route has: 405
    # with the JSON error. The setting is read as each route is added, hence before them.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.before_request(_start_request)
    app.after_request(_finish_response)
    app.teardown_request(_end_request)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(Exception, _unexpected_error)


def _start_request() -> None:
    # The gateway passes its id on to auth, so one id follows a login through both services.
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    g.correlation_token = logs.correlation_id.set(g.request_id)


def _finish_response(response: Response) -> Response:
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    response.headers.update(SECURITY_HEADERS)
    # An answer to a request with credentials is that user's (their jobs, a token): no cache, in
    # the browser or on the way, may keep it. A route that says otherwise keeps its own.
    if "Authorization" in request.headers and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def _end_request(error: BaseException | None) -> None:
    # Worker threads serve many requests; reset so the id never leaks into the next one's logs.
    if "correlation_token" in g:
        logs.correlation_id.reset(g.pop("correlation_token"))


def _api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.headers)


def _http_exception(error: HTTPException) -> Response | HTTPException:
    # Redirects are HTTPExceptions too; only errors get the JSON body.
    if error.code is None or error.code < 400:
        return error
    # get_response() keeps headers such as Allow on a 405.
    response = error.get_response()
    g.error_code = _snake_case(error.name)
    response.data = jsonify({"error": {"code": g.error_code, "message": error.description}}).get_data()
    response.content_type = "application/json"
    return response


def _unexpected_error(error: Exception) -> Response:
    # The trace goes to the log for us; the client gets a generic sentence, never str(error).
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "An unexpected error occurred.")


def _snake_case(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
