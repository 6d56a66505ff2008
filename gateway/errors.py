"""Every failure the gateway answers with, turned into `{"error": {"code", "message"}}` in one place.

Routes and the modules behind them raise exceptions that say what went wrong in their own terms
(JobNotFound, MediaError, PublishFailed ...); this module alone decides what HTTP status, code and
message each one becomes.
"""

from __future__ import annotations

import logging
import re

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from gateway import links, ratelimits, tokens
from pipeline import storage
from pipeline.broker import PublishFailed
from pipeline.jobs import JobNotFound
from pipeline.media import MediaError

logger = logging.getLogger(__name__)

BEARER_CHALLENGE = 'Bearer realm="mp3"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="mp3", error="invalid_token"'


class ApiError(Exception):
    """A failure the client can understand and fix; raised by the gateway's own routes."""

    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class MissingFile(ApiError):
    code = "missing_file"
    message = "Send the video as a multipart form field named `file`, with a file name."


class EmptyFile(ApiError):
    status = 422
    code = "empty_file"
    message = "The uploaded file is empty."


class InvalidPreset(ApiError):
    code = "invalid_preset"


class InvalidIdempotencyKey(ApiError):
    code = "invalid_idempotency_key"


class InvalidParameter(ApiError):
    code = "invalid_parameter"


class UploadInProgress(ApiError):
    status = 409
    code = "upload_in_progress"
    message = "An upload with this Idempotency-Key has not finished; retry shortly, or use a new key."


class AuthUnavailable(ApiError):
    status = 503
    code = "auth_unavailable"
    message = "The account service is not reachable; try again shortly."


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """Build the one JSON error shape every service in the project answers with."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def init_app(app: Flask) -> None:
    """Register the handlers that turn every exception into a JSON error response."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(MediaError, _media_error)

    def answer(exception_class, status: int, code: str, message: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        """Answer ``exception_class`` with this status and code, and ``message`` or the exception's."""
        def handler(error: Exception) -> Response:
            return error_response(status, code, message or str(error), headers)
        app.register_error_handler(exception_class, handler)

    answer(JobNotFound, 404, "not_found", "There is no job with this id.")
    answer(storage.FileNotFound, 404, "not_found", "There is no file with this id.")
    answer(tokens.MissingToken, 401, "missing_token", headers={"WWW-Authenticate": BEARER_CHALLENGE})
    answer(tokens.InvalidToken, 401, "invalid_token", headers={"WWW-Authenticate": INVALID_TOKEN_CHALLENGE})
    answer(tokens.ExpiredToken, 401, "token_expired", headers={"WWW-Authenticate": INVALID_TOKEN_CHALLENGE})
    answer(links.InvalidSignature, 403, "invalid_signature")
    answer(links.LinkExpired, 403, "link_expired")
    # Infrastructure failures: the client can only retry, and must not see the driver's message.
    answer(tokens.KeysUnavailable, 503, "auth_unavailable", AuthUnavailable.message)
    answer(PublishFailed, 503, "broker_unavailable",
           "The job queue is not reachable; nothing was queued, try again shortly.")
    for unavailable in storage.UNAVAILABLE:
        answer(unavailable, 503, "database_unavailable", "The database is not reachable; try again shortly.")

    app.register_error_handler(ratelimits.RateLimitExceeded, _rate_limited)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(Exception, _unexpected_error)


def _api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message)


def _media_error(error: MediaError) -> Response:
    # Its message is written for users ("The file has no audio track to convert."), and its
    # code says which refusal it is (unsupported_media, too_long).
    return error_response(422, error.code, str(error))


def _rate_limited(error: ratelimits.RateLimitExceeded) -> Response:
    seconds = error.retry_after
    return error_response(429, "rate_limited", f"Too many requests; try again in {seconds} seconds.",
                          {"Retry-After": str(seconds)})


def _too_large(error: RequestEntityTooLarge) -> Response:
    limit = request.max_content_length
    message = f"The request is larger than the limit of {limit} bytes." if limit else error.description
    return error_response(413, "too_large", message)


def _http_exception(error: HTTPException) -> Response | HTTPException:
    # Redirects are HTTPExceptions too; only errors get the JSON body.
    if error.code is None or error.code < 400:
        return error
    # get_response() keeps headers such as Allow on a 405.
    response = error.get_response()
    response.data = jsonify({"error": {"code": _snake_case(error.name), "message": error.description}}).get_data()
    response.content_type = "application/json"
    return response


def _unexpected_error(error: Exception) -> Response:
    # The trace goes to the log for us; the client gets a generic sentence, never str(error).
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "An unexpected error occurred.")


def _snake_case(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
