"""Signed download links: whoever holds one may fetch that MP3, without a token, until it expires.

The notification service signs them into its emails; the gateway checks them. Contract
(docs/architecture.md): ``signature = hex(HMAC-SHA256(secret, f"{fid}:{expires}"))``, with
``expires`` in unix seconds and ``secret`` the download-link key file's text as UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

# The query parameter that carries a link's signature; the access log leaves its value out.
SIGNATURE_PARAMETER = "signature"


class LinkError(Exception):
    """A signed link that does not grant access; the message is meant for the client."""


class InvalidSignature(LinkError):
    """The link was not signed by us, or was altered after signing."""


class LinkExpired(LinkError):
    """A genuine link whose time is up."""


def signature(secret: bytes, fid: str, expires: int) -> str:
    """The hex HMAC-SHA256 of ``f"{fid}:{expires}"`` under ``secret``."""
    return hmac.new(secret, f"{fid}:{expires}".encode(), hashlib.sha256).hexdigest()


def signed_download_url(base_url: str, fid: str, secret: bytes, ttl_seconds: int, now: float) -> str:
    """The link to download ``fid`` until ``now`` (unix seconds) + ``ttl_seconds``."""
    expires = int(now) + ttl_seconds
    query = urlencode({"fid": fid, "expires": expires, SIGNATURE_PARAMETER: signature(secret, fid, expires)})
    return f"{base_url.rstrip('/')}/download?{query}"


def verify(secret: bytes, fid: str, expires: str | None, given_signature: str | None,
           now: float | None = None) -> None:
    """Raise LinkError unless the link's signature is ours and it has not expired."""
    if not expires or not given_signature or not (expires.isascii() and expires.isdigit()):
        raise InvalidSignature("The download link is incomplete or altered.")
    expected = signature(secret, fid, int(expires))
    # compare_digest takes as long for a near miss as for a wild guess, so timing reveals nothing.
    # Bytes, because on str it refuses non-ASCII input with a TypeError.
    if not hmac.compare_digest(expected.encode(), given_signature.encode("utf-8", "replace")):
        raise InvalidSignature("The download link is incomplete or altered.")
    # Checked after the signature, so a forged link learns nothing about expiry.
    if int(expires) < (time.time() if now is None else now):
        raise LinkExpired("The download link has expired; log in to download the file.")
