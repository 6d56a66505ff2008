"""Public keys: GET /.well-known/jwks.json, which the gateway uses to verify tokens."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from auth import tokens

bp = Blueprint("keys", __name__)

# Verifiers may cache the document this long; a rotation keeps the previous key published for
# at least this plus the token lifetime.
JWKS_MAX_AGE_SECONDS = 300


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """Publish the public keys that verify tokens signed now and before the last rotation."""
    response = jsonify(tokens.current_issuer().jwks())
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
    return response
