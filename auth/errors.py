"""Errors the API answers with, and the handlers that turn every failure into JSON."""

from __future__ import annotations

import logging
import re

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)

BASIC_CHALLENGE = 'Basic realm="mp3"'


class ApiError(Exception):
    """A failure the client can understand, answered as `{"error": {"code", "message"}}`."""

    status = 400
    code = "bad_request"
    message = "The request could not be processed."
    headers: dict[str, str] = {}

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class InvalidBody(ApiError):
    code = "invalid_body"
    message = "Send a JSON object or form fields with email and password."


class InvalidEmail(ApiError):
    code = "invalid_email"
    message = "The email address is not valid."


class InvalidPassword(ApiError):
    code = "invalid_password"
    message = "The password does not meet the rules."


class EmailTaken(ApiError):
    status = 409
    code = "email_taken"
    message = "An account with this email already exists."


class InvalidCredentials(ApiError):
    status = 401
    code = "invalid_credentials"
    message = "The email or password is wrong."
    headers = {"WWW-Authenticate": BASIC_CHALLENGE}


class LoginThrottled(ApiError):
    status = 429
    code = "login_throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed logins for this account or from this address; "
            f"try again in {retry_after} seconds."
        )
        self.headers = {"Retry-After": str(retry_after)}


class DatabaseUnavailable(ApiError):
    status = 503
    code = "database_unavailable"
    message = "The user database is not reachable; try again shortly."


def error_response(status: int, code: str, message: str) -> Response:
    """Build the one JSON error shape every service in the project answers with."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def handle_api_error(error: ApiError) -> Response:
    response = error_response(error.status, error.code, error.message)
    response.headers.update(error.headers)
    return response


def handle_http_exception(error: HTTPException) -> Response | HTTPException:
    # Redirects are HTTPExceptions too; only errors get the JSON body.
    if error.code is None or error.code < 400:
        return error
    # get_response() keeps headers such as Allow on a 405.
    response = error.get_response()
    response.data = jsonify(
        {"error": {"code": _snake_case(error.name), "message": error.description}}
    ).get_data()
    response.content_type = "application/json"
    return response


def handle_unexpected_error(error: Exception) -> Response:
    # The trace goes to the log for us; the client gets a generic sentence, never str(error).
    logger.exception("Unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "An unexpected error occurred.")


def init_app(app: Flask) -> None:
    """Register the error handlers on the application."""
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected_error)


def _snake_case(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
