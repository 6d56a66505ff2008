"""Rate limits: /login and /register per client address, /upload per user. Past a limit the
answer is 429 `rate_limited` with Retry-After, and the window's end lets requests through again."""
import io
import logging
import time
import uuid

from tests.gateway.conftest import LOGIN_EMAIL, LOGIN_PASSWORD, THROTTLED_EMAIL, THROTTLED_RETRY_AFTER
from tests.gateway.test_accounts import basic


def a_client_address():
    """An IPv6 documentation address no other test uses: the counters in MongoDB are shared."""
    return "2001:db8:{:x}:{:x}::{:x}".format(*uuid.uuid4().fields[:3])


def client_from(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def at_the_start_of_a_window(seconds):
    """Wait for a new window to begin, so that the requests that follow all fall into one."""
    time.sleep(seconds - time.time() % seconds)


def log_in(client, email=LOGIN_EMAIL, **headers):
    return client.post("/login", headers={**basic(email, LOGIN_PASSWORD), **headers})


def register(client):
    return client.post("/register", json={"email": f"{uuid.uuid4().hex}@example.com", "password": "long enough"})


def upload(client, user, content):
    return client.post("/upload", data={"file": (io.BytesIO(content), "talk.mp4")}, headers=user.headers,
                       content_type="multipart/form-data")


def assert_rate_limited(response, window_seconds):
    assert response.status_code == 429
    assert response.json["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= window_seconds
    return int(response.headers["Retry-After"])


def test_logins_over_the_limit_of_an_address_get_429_until_the_window_ends(make_app, auth_server):
    client = client_from(make_app(LOGIN_RATE_LIMIT="2/2"), a_client_address())
    at_the_start_of_a_window(2)

    assert [log_in(client).status_code for _ in range(2)] == [200, 200]
    auth_server.last_request_headers = {}
    retry_after = assert_rate_limited(log_in(client), window_seconds=2)
    # Refused by the gateway itself: auth did not have to check a password for it.
    assert auth_server.last_request_headers == {}

    time.sleep(retry_after)
    assert log_in(client).status_code == 200


def test_one_address_over_its_login_limit_does_not_hold_up_another(make_app):
    app = make_app(LOGIN_RATE_LIMIT="1/2")
    busy, other = client_from(app, a_client_address()), client_from(app, a_client_address())
    at_the_start_of_a_window(2)

    assert log_in(busy).status_code == 200
    assert log_in(busy).status_code == 429
    assert log_in(other).status_code == 200


def test_registrations_over_the_limit_of_an_address_get_429_until_the_window_ends(make_app):
    app = make_app(REGISTER_RATE_LIMIT="2/2")
    client, other = client_from(app, a_client_address()), client_from(app, a_client_address())
    at_the_start_of_a_window(2)

    assert [register(client).status_code for _ in range(2)] == [201, 201]
    retry_after = assert_rate_limited(register(client), window_seconds=2)
    assert register(other).status_code == 201

    time.sleep(retry_after)
    assert register(client).status_code == 201


def test_uploads_over_the_limit_of_a_user_get_429_until_the_window_ends(
    make_app, user, other_user, media_files, mongo_client, video_queue
):
    client = make_app(UPLOAD_RATE_LIMIT="2/4").test_client()
    video = media_files.talk.read_bytes()
    at_the_start_of_a_window(4)

    assert [upload(client, user, video).status_code for _ in range(2)] == [202, 202]
    retry_after = assert_rate_limited(upload(client, user, video), window_seconds=4)
    assert mongo_client["jobs"]["jobs"].count_documents({"owner_id": user.id}) == 2
    # The limit is the user's, not the address's: another user from the same address uploads.
    assert upload(client, other_user, video).status_code == 202

    time.sleep(retry_after)
    assert upload(client, user, video).status_code == 202
    assert len(video_queue.take_all()) == 4


def test_two_gateway_instances_share_one_count(make_app):
    # Two apps, as two gunicorn workers or two replicas would be: separate processes' clients,
    # one MongoDB.
    address = a_client_address()
    first = client_from(make_app(LOGIN_RATE_LIMIT="2/2"), address)
    second = client_from(make_app(LOGIN_RATE_LIMIT="2/2"), address)
    at_the_start_of_a_window(2)

    assert log_in(first).status_code == 200
    assert log_in(second).status_code == 200
    assert log_in(first).status_code == 429
    assert log_in(second).status_code == 429


def test_x_forwarded_for_is_ignored_unless_a_proxy_is_trusted(make_app):
    # Without a trusted proxy, anyone could write the header: a new address for every request.
    client = client_from(make_app(LOGIN_RATE_LIMIT="1/2"), a_client_address())
    at_the_start_of_a_window(2)

    assert log_in(client, **{"X-Forwarded-For": a_client_address()}).status_code == 200
    assert log_in(client, **{"X-Forwarded-For": a_client_address()}).status_code == 429


def test_behind_a_trusted_proxy_each_client_address_has_its_own_limit(make_app, auth_server):
    proxy = client_from(make_app(LOGIN_RATE_LIMIT="1/2", TRUSTED_PROXY_COUNT="1"), a_client_address())
    first_client, second_client = a_client_address(), a_client_address()
    at_the_start_of_a_window(2)

    # What the client wrote itself comes first; the proxy appends the address it saw.
    assert log_in(proxy, **{"X-Forwarded-For": f"192.0.2.1, {first_client}"}).status_code == 200
    assert auth_server.last_request_headers["X-Forwarded-For"] == first_client
    assert log_in(proxy, **{"X-Forwarded-For": f"192.0.2.2, {first_client}"}).status_code == 429
    assert log_in(proxy, **{"X-Forwarded-For": second_client}).status_code == 200


def test_auth_is_told_the_client_address_and_not_what_the_client_claims(client, auth_server):
    client.environ_base["REMOTE_ADDR"] = address = a_client_address()

    log_in(client, **{"X-Forwarded-For": "192.0.2.99"})

    assert auth_server.last_request_headers["X-Forwarded-For"] == address


def test_auths_refusal_after_too_many_failed_logins_reaches_the_client_with_retry_after(client):
    response = log_in(client, email=THROTTLED_EMAIL)

    assert response.status_code == 429
    assert response.json["error"]["code"] == "login_throttled"
    assert response.headers["Retry-After"] == THROTTLED_RETRY_AFTER


def test_when_mongodb_is_down_logins_are_let_through_and_a_warning_is_logged(make_app, closed_port, caplog):
    client = make_app(MONGODB_URI=f"mongodb://127.0.0.1:{closed_port}/", LOGIN_RATE_LIMIT="1/60").test_client()

    with caplog.at_level(logging.WARNING, logger="gateway.ratelimits"):
        response = log_in(client)

    assert response.status_code == 200
    assert "login rate limit not checked, MongoDB is unavailable" in caplog.text
