"""Every failure the gateway answers with, turned into `{"error": {"code", "message"}}` in one place.

Routes and the modules behind them raise exceptions that say what went wrong in their own terms
(JobNotFound, MediaError, PublishFailed ...); this module alone decides what HTTP status, code and
message each one becomes.
"""

from __future__ import annotations

import functools

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from gateway import ratelimits, tokens
from mp3common import links, storage, web
from mp3common.broker import PublishFailed
from mp3common.jobs import JobNotFound
from mp3common.media import MediaError
from mp3common.web import ApiError

BEARER_CHALLENGE = 'Bearer realm="mp3"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="mp3", error="invalid_token"'


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


def init_app(app: Flask) -> None:
    """Register the gateway's own answers on top of the shared JSON errors (mp3common.web)."""
    web.init_app(app)
    answer = functools.partial(web.answer, app)
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
    app.register_error_handler(MediaError, _media_error)
    app.register_error_handler(ratelimits.RateLimitExceeded, _rate_limited)
    app.register_error_handler(RequestEntityTooLarge, _too_large)


def _media_error(error: MediaError) -> Response:
    # Its message is written for users ("The file has no audio track to convert."), and its
    # code says which refusal it is (unsupported_media, too_long).
    return web.error_response(422, error.code, str(error))


def _rate_limited(error: ratelimits.RateLimitExceeded) -> Response:
    seconds = error.retry_after
    return web.error_response(429, "rate_limited", f"Too many requests; try again in {seconds} seconds.",
                              {"Retry-After": str(seconds)})


def _too_large(error: RequestEntityTooLarge) -> Response:
    limit = request.max_content_length
    message = f"The request is larger than the limit of {limit} bytes." if limit else error.description
    return web.error_response(413, "too_large", message)
