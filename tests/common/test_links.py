"""Signed download links: the notification service signs, the gateway verifies, both by the
contract in docs/architecture.md."""
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import pytest

from mp3common import links

SECRET = b"0123456789abcdef" * 4
FID = "65f0c0ffee0123456789abcd"
NOW = 1_700_000_000


def test_a_link_signed_as_the_contract_says_is_accepted():
    expires = NOW + 60
    # signature = hex(HMAC-SHA256(secret, f"{fid}:{expires}")), as the notification service signs.
    signature = hmac.new(SECRET, f"{FID}:{expires}".encode(), hashlib.sha256).hexdigest()

    links.verify(SECRET, FID, str(expires), signature, now=NOW)


@pytest.mark.parametrize(
    "fid, expires, signature",
    [
        ("65f0c0ffee0123456789abce", str(NOW + 60), links.signature(SECRET, FID, NOW + 60)),  # other file
        (FID, str(NOW + 6000), links.signature(SECRET, FID, NOW + 60)),  # expiry pushed back
        (FID, str(NOW + 60), links.signature(b"another secret" * 4, FID, NOW + 60)),  # other key
        (FID, str(NOW + 60), links.signature(SECRET, FID, NOW + 60)[:-1] + "x"),  # one character changed
        (FID, str(NOW + 60), "é" * 64),  # not even hex
        (FID, str(NOW + 60), None),
        (FID, None, links.signature(SECRET, FID, NOW + 60)),
        (FID, "-1", links.signature(SECRET, FID, -1)),
        (FID, "soon", links.signature(SECRET, FID, NOW + 60)),
    ],
)
def test_an_altered_link_is_refused_as_invalid(fid, expires, signature):
    with pytest.raises(links.InvalidSignature):
        links.verify(SECRET, fid, expires, signature, now=NOW)


def test_a_genuine_link_past_its_time_is_refused_as_expired():
    expires = NOW - 1

    with pytest.raises(links.LinkExpired):
        links.verify(SECRET, FID, str(expires), links.signature(SECRET, FID, expires), now=NOW)


def test_a_link_made_for_an_email_is_accepted_until_it_expires():
    url = links.signed_download_url("http://localhost:8080", FID, SECRET, ttl_seconds=3600, now=NOW + 0.7)

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "localhost:8080", "/download")
    query = {key: value for key, [value] in parse_qs(parts.query).items()}
    assert query.keys() == {"fid", "expires", "signature"}
    assert (query["fid"], query["expires"]) == (FID, str(NOW + 3600))
    links.verify(SECRET, FID, query["expires"], query["signature"], now=NOW + 3600)
    with pytest.raises(links.LinkExpired):
        links.verify(SECRET, FID, query["expires"], query["signature"], now=NOW + 3601)


@pytest.mark.parametrize("base_url", ["https://mp3.example.com", "https://mp3.example.com/"])
def test_a_trailing_slash_on_the_base_url_makes_no_double_slash(base_url):
    url = links.signed_download_url(base_url, FID, SECRET, ttl_seconds=60, now=0)

    assert url.startswith("https://mp3.example.com/download?fid=")
