"""Bearer tokens: JWTs that auth signs with Ed25519, verified here against auth's published keys.

The gateway never calls auth to check a token. It fetches auth's JWKS (the public keys), caches
it, and verifies each token's signature and claims locally.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from flask import current_app, g, request

from gateway import services

# Only the algorithm auth signs with. Fixing the list here is what refuses `alg: none` and the
# HS256 trick of "signing" a token with the public key as an HMAC secret.
ALGORITHMS = ["EdDSA"]
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud", "email"]
# Tolerate small clock differences between auth's host and ours when checking exp and iat.
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class User:
    """The caller, as the token names them."""

    id: int
    email: str


class AuthError(Exception):
    """The request does not carry a token we accept; the message is meant for the client."""


class MissingToken(AuthError):
    """No `Authorization: Bearer` header."""


class InvalidToken(AuthError):
    """A token that is malformed, forged, or not meant for us."""


class ExpiredToken(AuthError):
    """A genuine token whose lifetime is over."""


class KeysUnavailable(Exception):
    """auth's key set could not be fetched, so no token can be checked right now."""


def current_user() -> User:
    """Return the user whose valid bearer token came with this request, or raise AuthError."""
    if "user" not in g:
        settings = current_app.config["SETTINGS"]
        token = bearer_token(request.headers.get("Authorization"))
        g.user = verify(token, services.jwks_client(), settings.jwt_issuer, settings.jwt_audience)
    return g.user


def bearer_token(authorization: str | None) -> str:
    """Return the token of an `Authorization: Bearer <token>` header value."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise MissingToken("Send a bearer token: `Authorization: Bearer <token>` from POST /login.")
    token = token.strip()
    if not token:
        raise InvalidToken("The bearer token is empty.")
    return token


def verify(token: str, jwks_client: jwt.PyJWKClient, issuer: str, audience: str) -> User:
    """Check the token's signature and claims and return its user; raise AuthError if it fails."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken("The bearer token is not a well-formed JWT.") from None
    # Refuse what cannot be ours before asking for keys: an unknown kid makes the JWKS client
    # fetch the key set again, and a junk token should not cost a request to auth.
    if header.get("alg") not in ALGORITHMS or not isinstance(header.get("kid"), str):
        raise InvalidToken("The bearer token is not signed the way auth signs tokens.")
    try:
        signing_key = jwks_client.get_signing_key(header["kid"])
    except jwt.PyJWKClientConnectionError as error:
        raise KeysUnavailable(str(error)) from error
    except jwt.PyJWKClientError:
        raise InvalidToken("The bearer token was signed with a key auth does not publish.") from None
    except (jwt.PyJWKSetError, ValueError) as error:
        # auth answered, but not with a usable key set (an HTML error page, a broken key).
        raise KeysUnavailable(f"unusable key set: {error!r}") from error
    try:
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=ALGORITHMS,
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise ExpiredToken("The bearer token has expired; log in again.") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The bearer token is not valid.") from None
    return _user_from(claims)


def _user_from(claims: dict) -> User:
    subject, email = claims["sub"], claims["email"]
    if not (subject.isascii() and subject.isdigit() and int(subject) >= 1):
        raise InvalidToken("The bearer token does not name a user.")
    if not isinstance(email, str) or "@" not in email:
        raise InvalidToken("The bearer token does not carry an email address.")
    return User(id=int(subject), email=email)
