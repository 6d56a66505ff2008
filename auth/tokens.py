"""EdDSA (Ed25519) JSON Web Tokens, and the JWKS document that lets others verify them."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, current_app

from auth.settings import Settings

ALGORITHM = "EdDSA"
EXTENSION_NAME = "auth.tokens"


class KeyFileError(Exception):
    """A configured key file is missing, unreadable or not an Ed25519 key."""


class TokenIssuer:
    """Signs access tokens with the current private key and publishes the public keys."""

    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        previous_public_keys: Iterable[Ed25519PublicKey],
        issuer: str,
        audience: str,
        ttl_seconds: int,
    ) -> None:
        self._private_key = private_key
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        current_jwk = public_jwk(private_key.public_key())
        self.kid = current_jwk["kid"]
        # Previous keys stay published during a rotation so tokens they signed still verify.
        jwks_by_kid = {current_jwk["kid"]: current_jwk}
        for public_key in previous_public_keys:
            jwk = public_jwk(public_key)
            jwks_by_kid.setdefault(jwk["kid"], jwk)
        self._public_jwks = tuple(jwks_by_kid.values())

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenIssuer:
        """Load the keys named in the settings, failing with the file's name if one is bad."""
        return cls(
            private_key=load_private_key(settings.jwt_private_key_file),
            previous_public_keys=[
                load_public_key(path) for path in settings.jwt_previous_public_key_files
            ],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.jwt_ttl_seconds,
        )

    def issue(self, user_id: int, email: str, now: int | None = None) -> str:
        """Return a signed token for the user, valid for ttl_seconds from now."""
        issued_at = int(time.time()) if now is None else now
        claims = {
            "sub": str(user_id),
            "email": email,
            "iat": issued_at,
            "exp": issued_at + self.ttl_seconds,
            "iss": self.issuer,
            "aud": self.audience,
        }
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def jwks(self) -> dict:
        """Return the JWKS document: the current public key first, then previous ones."""
        return {"keys": [dict(jwk) for jwk in self._public_jwks]}


def init_app(app: Flask) -> None:
    """Load the signing keys at start-up, so a bad key file stops the service before it serves."""
    app.extensions[EXTENSION_NAME] = TokenIssuer.from_settings(app.config["SETTINGS"])


def current_issuer() -> TokenIssuer:
    """Return the application's token issuer."""
    return current_app.extensions[EXTENSION_NAME]


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an unencrypted Ed25519 private key from a PEM file."""
    try:
        key = serialization.load_pem_private_key(_read_key_file(path), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read an Ed25519 public key from a PEM file."""
    try:
        key = serialization.load_pem_public_key(_read_key_file(path))
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
    return key


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """Return the public key as a JWK (RFC 8037) whose kid is its RFC 7638 thumbprint."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": _base64url(raw)}
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": ALGORITHM, "use": "sig"}


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """Return the RFC 7638 thumbprint of an OKP key: SHA-256 of its required members, sorted."""
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return _base64url(hashlib.sha256(canonical.encode()).digest())


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from exc


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
