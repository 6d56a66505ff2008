"""GET /download: an MP3 streams to its owner's token or to a valid signed link, and to no one else."""
import re
import time
from urllib.parse import unquote

import pytest

from mp3common import links

UNKNOWN_FID = "0123456789abcdef01234567"


def signed_query(secret, fid, expires):
    return {"fid": fid, "expires": str(expires), "signature": links.signature(secret, fid, expires)}


def test_the_owner_downloads_the_mp3_streamed_with_its_name(client, user, store_mp3):
    stored = store_mp3(user)

    response = client.get("/download", query_string={"fid": stored.fid}, headers=user.headers)

    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert response.headers["Content-Length"] == str(len(stored.content))
    assert response.headers["Content-Disposition"] == "attachment; filename=\"talk.mp3\"; filename*=UTF-8''talk.mp3"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.get_data() == stored.content


def test_the_download_is_named_after_the_source_when_the_stored_name_is_not_mp3(client, user, store_mp3):
    stored = store_mp3(user, mp3_name="talk.mp4")

    response = client.get("/download", query_string={"fid": stored.fid}, headers=user.headers)

    assert 'filename="talk.mp3"' in response.headers["Content-Disposition"]


@pytest.mark.parametrize(
    "stored_name, ascii_name, exact_name",
    [
        ("../../etc/passwd.mp3", "passwd.mp3", "passwd.mp3"),
        ("C:\\Users\\ann\\talk.mp3", "talk.mp3", "talk.mp3"),
        ('he said "hi".mp3', "he said _hi_.mp3", 'he said "hi".mp3'),
        ("evil\r\nSet-Cookie: session=1.mp3", "evilSet-Cookie: session=1.mp3", "evilSet-Cookie: session=1.mp3"),
        ("Café – 日本語.mp3", "Cafe  .mp3", "Café – 日本語.mp3"),
        ("日本語.mp3", "download.mp3", "日本語.mp3"),
    ],
)
def test_any_stored_name_gives_a_safe_content_disposition(client, user, store_mp3, stored_name, ascii_name, exact_name):
    stored = store_mp3(user, mp3_name=stored_name)

    response = client.get("/download", query_string={"fid": stored.fid}, headers=user.headers)

    assert response.status_code == 200
    header = response.headers["Content-Disposition"]
    match = re.fullmatch(r'attachment; filename="([ -~]*)"; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]+)', header)
    assert match, header
    assert match.group(1) == ascii_name
    assert unquote(match.group(2)) == exact_name


def test_another_users_mp3_is_404_like_a_missing_one(client, user, other_user, store_mp3):
    stored = store_mp3(other_user)

    response = client.get("/download", query_string={"fid": stored.fid}, headers=user.headers)

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("fid", [UNKNOWN_FID, "not-an-object-id", ""])
def test_an_unknown_or_malformed_fid_is_404(client, user, fid):
    response = client.get("/download", query_string={"fid": fid}, headers=user.headers)

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_without_a_token_or_a_signature_the_answer_is_401(client, user, store_mp3):
    stored = store_mp3(user)

    response = client.get("/download", query_string={"fid": stored.fid})

    assert response.status_code == 401


def test_a_signed_link_downloads_without_a_token(client, app, user, store_mp3):
    stored = store_mp3(user)
    secret = app.config["SETTINGS"].download_link_secret

    response = client.get("/download", query_string=signed_query(secret, stored.fid, int(time.time()) + 600))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert response.get_data() == stored.content


def test_an_expired_signed_link_is_refused_with_403(client, app, user, store_mp3):
    stored = store_mp3(user)
    secret = app.config["SETTINGS"].download_link_secret

    response = client.get("/download", query_string=signed_query(secret, stored.fid, int(time.time()) - 1))

    assert response.status_code == 403
    assert response.json["error"]["code"] == "link_expired"


@pytest.mark.parametrize("change", ["signature", "expires", "fid", "secret"])
def test_a_tampered_signed_link_is_refused_with_403(client, app, user, other_user, store_mp3, change):
    stored = store_mp3(user)
    secret = app.config["SETTINGS"].download_link_secret
    expires = int(time.time()) + 600
    query = signed_query(b"not the gateway's secret" * 2 if change == "secret" else secret, stored.fid, expires)
    if change == "signature":
        query["signature"] = query["signature"][::-1]
    elif change == "expires":
        query["expires"] = str(expires + 86400)
    elif change == "fid":
        query["fid"] = store_mp3(other_user).fid

    response = client.get("/download", query_string=query)

    assert response.status_code == 403
    assert response.json["error"]["code"] == "invalid_signature"


def test_a_signed_link_to_a_deleted_mp3_is_404(client, app, user, store_mp3):
    stored = store_mp3(user)
    secret = app.config["SETTINGS"].download_link_secret
    assert client.delete(f"/jobs/{stored.job_id}", headers=user.headers).status_code == 204

    response = client.get("/download", query_string=signed_query(secret, stored.fid, int(time.time()) + 600))

    assert response.status_code == 404
