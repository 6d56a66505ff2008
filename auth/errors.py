"""The errors auth answers with; mp3common.web turns each into `{"error": {"code", "message"}}`."""

from __future__ import annotations

from flask import Flask

from mp3common import web
from mp3common.web import ApiError

BASIC_CHALLENGE = 'Basic realm="mp3"'


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


def init_app(app: Flask) -> None:
    """Answer every failure with the shared JSON error shape (mp3common.web); auth adds no more."""
    web.init_app(app)
