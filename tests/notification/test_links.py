"""Signed download links follow the contract the gateway verifies (docs/architecture.md)."""
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import pytest

from notification.links import signature, signed_download_url

SECRET = b"0123456789abcdef0123456789abcdef"
FID = "65a1b2c3d4e5f60718293a4b"


def test_the_signature_is_the_hex_hmac_sha256_of_fid_and_expiry():
    expected = hmac.new(SECRET, b"65a1b2c3d4e5f60718293a4b:1700003600", hashlib.sha256).hexdigest()

    assert signature(SECRET, FID, 1700003600) == expected


def test_the_link_carries_fid_expiry_and_signature():
    url = signed_download_url("http://localhost:8080", FID, SECRET, ttl_seconds=3600, now=1700000000.7)

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "localhost:8080", "/download")
    query = {key: value for key, [value] in parse_qs(parts.query).items()}
    assert query == {"fid": FID, "expires": "1700003600", "signature": signature(SECRET, FID, 1700003600)}


@pytest.mark.parametrize("base_url", ["https://mp3.example.com", "https://mp3.example.com/"])
def test_a_trailing_slash_on_the_base_url_makes_no_double_slash(base_url):
    url = signed_download_url(base_url, FID, SECRET, ttl_seconds=60, now=0)

    assert url.startswith("https://mp3.example.com/download?fid=")


@pytest.mark.parametrize(
    "secret, fid, expires",
    [(b"another secret entirely, 32 chars", FID, 1700003600), (SECRET, "65a1b2c3d4e5f60718293a4c", 1700003600),
     (SECRET, FID, 1700003601)],
)
def test_changing_the_secret_fid_or_expiry_changes_the_signature(secret, fid, expires):
    assert signature(secret, fid, expires) != signature(SECRET, FID, 1700003600)
