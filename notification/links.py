"""Signed download links: anyone holding one may fetch that MP3 until it expires, without a token.

The gateway verifies them (docs/architecture.md): signature = hex(HMAC-SHA256(secret, f"{fid}:{expires}")).
"""
import hashlib
import hmac
from urllib.parse import urlencode


def signature(secret, fid, expires):
    """The hex HMAC-SHA256 of ``f"{fid}:{expires}"`` under ``secret`` (bytes)."""
    return hmac.new(secret, f"{fid}:{expires}".encode(), hashlib.sha256).hexdigest()


def signed_download_url(base_url, fid, secret, ttl_seconds, now):
    """The link to download ``fid`` until ``now`` (unix seconds) + ``ttl_seconds``."""
    expires = int(now) + ttl_seconds
    query = urlencode({"fid": fid, "expires": expires, "signature": signature(secret, fid, expires)})
    return f"{base_url.rstrip('/')}/download?{query}"
