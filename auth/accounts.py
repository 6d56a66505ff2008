"""Account endpoints: POST /register and POST /login."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from werkzeug.exceptions import UnsupportedMediaType

from auth import tokens, users
from auth.errors import InvalidBody, InvalidCredentials

logger = logging.getLogger(__name__)

bp = Blueprint("accounts", __name__)

FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@bp.post("/register")
def register() -> tuple[dict, int]:
    """Create an account from JSON or form fields `email` and `password`."""
    email, password = _email_and_password_from_body()
    user = users.register(email, password)
    return {"id": user.id, "email": user.email}, 201


@bp.post("/login")
def login() -> Response:
    """Exchange HTTP Basic credentials for a bare JWT, so `TOKEN=$(curl -u ...)` just works."""
    credentials = request.authorization
    if credentials is None or credentials.type != "basic":
        raise InvalidCredentials("Send your email and password with HTTP Basic authentication.")
    # remote_addr is the client's address as the gateway forwarded it (see create_app).
    user = users.authenticate(
        credentials.username or "", credentials.password or "", request.remote_addr
    )
    token = tokens.current_issuer().issue(user.id, user.email)
    # By user id, never the email address: the line carries the gateway's request id.
    logger.info("Issued a token to user %s", user.id)
    response = Response(token, status=200, mimetype="text/plain")
    # A bearer token must not be kept by caches along the way (RFC 6749, section 5.1).
    response.headers["Cache-Control"] = "no-store"
    return response


def _email_and_password_from_body() -> tuple[str, str]:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidBody("The body is not a JSON object.")
    elif request.mimetype in FORM_MIMETYPES:
        body = request.form
    else:
        raise UnsupportedMediaType("Send email and password as application/json or as form fields.")
    email = body.get("email")
    password = body.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        raise InvalidBody("Both email and password are required, as strings.")
    return email, password
