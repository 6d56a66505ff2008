"""Bearer tokens: JWTs that auth signs with Ed25519, verified here against auth's published keys.

The gateway never calls auth to check a token. It fetches auth's JWKS (the public keys), caches
it, and verifies each token's signature and claims locally. A token it has accepted is
remembered until it expires, as long as the key that signed it is still published.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cachetools
import jwt
from flask import g, request

from gateway import services

# Only the algorithm auth signs with. Fixing the list here is what refuses `alg: none` and the
# HS256 trick of "signing" a token with the public key as an HMAC secret.
ALGORITHMS = ["EdDSA"]
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud", "email"]
# Tolerate small clock differences between auth's host and ours when checking exp and iat.
LEEWAY_SECONDS = 30
# auth's key set is fetched again after this long (auth sends the same max-age), and at once
# when a token names a key the cached set lacks: that is how a rotated key is picked up.
JWKS_CACHE_SECONDS = 300
JWKS_TIMEOUT_SECONDS = 5
# Accepted tokens remembered per worker process: about 1 kB each, and every user's client sends
# one token for its whole lifetime, so a few thousand cover any number of active users here.
ACCEPTED_TOKENS_CACHED = 4096


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


@dataclass(frozen=True)
class _Accepted:
    user: User
    key_id: str
    # When check() would first refuse the token as expired: its exp plus the leeway.
    refused_from: float


class Verifier:
    """Verifies bearer tokens against auth's published keys; one per worker process.

    Checking an Ed25519 signature and rebuilding the key set's objects was a fifth of the
    gateway's CPU on a small authenticated request (bench/results), yet a client sends the same
    token with every request until it expires. So an accepted token is kept, keyed by the whole
    token (signature included: no other string can match it), and taken again only while the
    token has not expired and the key that signed it is still in the key set as last fetched. An
    expired token, or one whose key a rotation has withdrawn, is refused exactly as before.
    """

    def __init__(self, jwks_url: str, issuer: str, audience: str, *, key_set_lifespan: float = JWKS_CACHE_SECONDS,
                 max_tokens: int = ACCEPTED_TOKENS_CACHED, clock=time.time) -> None:
        self.issuer = issuer
        self.audience = audience
        # cache_keys=False: PyJWKClient's own per-kid cache would keep a withdrawn key verifying
        # in this process until it restarts. The key *set* is cached, and fetched again as above.
        self.keys = jwt.PyJWKClient(jwks_url, cache_keys=False, cache_jwk_set=True, lifespan=key_set_lifespan,
                                    timeout=JWKS_TIMEOUT_SECONDS)
        # TLRUCache drops an entry at its refused_from and the least recently used one when full.
        self._accepted = cachetools.TLRUCache(max_tokens, ttu=lambda _token, accepted, _now:
                                              accepted.refused_from, timer=clock)
        # cachetools' caches are not thread-safe. Under the gevent worker, threading.Lock is
        # gevent's and costs next to nothing; under any threaded server it is what keeps the
        # cache whole.
        self._lock = threading.Lock()

    def verify(self, token: str) -> User:
        """Return the user of a valid token; raise AuthError (or KeysUnavailable) otherwise."""
        with self._lock:
            accepted = self._accepted.get(token)
        if accepted is not None and accepted.key_id in self._published_key_ids():
            return accepted.user
        accepted = check(token, self.keys, self.issuer, self.audience)
        with self._lock:
            self._accepted[token] = accepted
        return accepted.user

    def _published_key_ids(self) -> set[str]:
        """The kids of the key set PyJWKClient holds, or none once it is due to be fetched again."""
        key_set = self.keys.jwk_set_cache.get()
        if not isinstance(key_set, dict):
            return set()
        return {key.get("kid") for key in key_set.get("keys", []) if isinstance(key, dict)}


def current_user() -> User:
    """Return the user whose valid bearer token came with this request, or raise AuthError."""
    if "user" not in g:
        token = bearer_token(request.headers.get("Authorization"))
        g.user = services.token_verifier().verify(token)
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


def check(token: str, jwks_client: jwt.PyJWKClient, issuer: str, audience: str) -> _Accepted:
    """Check the token's signature and claims and return what was accepted; raise AuthError if it fails."""
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
    return _Accepted(_user_from(claims), header["kid"], claims["exp"] + LEEWAY_SECONDS)


def _user_from(claims: dict) -> User:
    subject, email = claims["sub"], claims["email"]
    if not (subject.isascii() and subject.isdigit() and int(subject) >= 1):
        raise InvalidToken("The bearer token does not name a user.")
    if not isinstance(email, str) or "@" not in email:
        raise InvalidToken("The bearer token does not carry an email address.")
    return User(id=int(subject), email=email)
