"""POST /register and POST /login, passed through to the auth service.

auth owns accounts; the gateway is only the public door to them. Its status, body and the
headers that matter come back to the client unchanged, streamed rather than buffered.
"""

from __future__ import annotations

import logging

import requests
from flask import Blueprint, Response, current_app, g, request

from gateway import ratelimits
from gateway.errors import AuthUnavailable

logger = logging.getLogger(__name__)

bp = Blueprint("accounts", __name__)

# Register and login bodies are a few hundred bytes; the 2 GB upload limit is not for them.
MAX_BODY_BYTES = 64 * 1024
# (connect, read): a dead auth is reported in seconds, a slow password hash still has time.
AUTH_TIMEOUT_SECONDS = (3.05, 15)
FORWARDED_REQUEST_HEADERS = ("Authorization", "Content-Type", "Accept")
# Retry-After comes with auth's 429 for an account or address with too many failed logins.
FORWARDED_RESPONSE_HEADERS = ("Content-Type", "WWW-Authenticate", "Cache-Control", "Retry-After")
STREAM_CHUNK_BYTES = 8192


@bp.post("/register")
def register() -> Response:
    """Create an account: JSON or form fields `email` and `password`."""
    ratelimits.enforce(ratelimits.REGISTER, request.remote_addr)
    return _forward_to_auth("/register")


@bp.post("/login")
def login() -> Response:
    """Exchange HTTP Basic credentials for a bearer token (the body is the bare JWT)."""
    ratelimits.enforce(ratelimits.LOGIN, request.remote_addr)
    return _forward_to_auth("/login")


def _forward_to_auth(path: str) -> Response:
    request.max_content_length = MAX_BODY_BYTES
    body = request.get_data()
    headers = {name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS if name in request.headers}
    headers["X-Request-ID"] = g.request_id
    # auth counts failed logins per client address too. Whatever the client sent in this header
    # is replaced: remote_addr already honours it only as far as TRUSTED_PROXY_COUNT allows.
    if request.remote_addr:
        headers["X-Forwarded-For"] = request.remote_addr
    try:
        upstream = requests.post(
            current_app.config["SETTINGS"].auth_url + path,
            data=body,
            headers=headers,
            timeout=AUTH_TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
        )
    except requests.RequestException as error:
        logger.warning("auth is not reachable: %r", error)
        raise AuthUnavailable() from None
    response = Response(
        upstream.iter_content(STREAM_CHUNK_BYTES),
        status=upstream.status_code,
        headers={name: upstream.headers[name] for name in FORWARDED_RESPONSE_HEADERS if name in upstream.headers},
    )
    response.call_on_close(upstream.close)
    return response
