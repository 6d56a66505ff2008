"""Password guessing is slowed down: after too many failed logins for one account, or from one
client address, logins are refused with 429 and Retry-After, even with the right password, until
the window that began with the first failure is over."""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient

from auth import create_app
from auth.settings import Settings
from tests.auth.conftest import basic_authorization

# Each failure costs a bcrypt check (a quarter of a second): the window must outlast a test's
# failures. The tests that wait for a window to end use a short one, and few failures.
WINDOW_SECONDS = 60
SHORT_WINDOW_SECONDS = 2
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 8


@pytest.fixture
def make_client(environ):
    """A client of an app with the throttle's settings changed."""

    def make(**changes: str) -> FlaskClient:
        settings = Settings.from_env({
            **environ,
            "LOGIN_FAILURE_WINDOW_SECONDS": str(WINDOW_SECONDS),
            "MAX_LOGIN_FAILURES_PER_ACCOUNT": str(ACCOUNT_LIMIT),
            "MAX_LOGIN_FAILURES_PER_ADDRESS": str(ADDRESS_LIMIT),
            **changes,
        })
        return create_app(settings).test_client()

    return make


@pytest.fixture
def client(make_client):
    return make_client()


def register(client, email="ann@example.com", password="correct horse"):
    assert client.post("/register", json={"email": email, "password": password}).status_code == 201


def login_from(client, address, email="ann@example.com", password="correct horse"):
    """Log in through the gateway, which names the client's address in X-Forwarded-For."""
    headers = {**basic_authorization(email, password), "X-Forwarded-For": address}
    return client.post("/login", headers=headers)


def assert_throttled(response, window_seconds=WINDOW_SECONDS):
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "login_throttled"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window_seconds
    return retry_after


def fail_logins(client, count, email="ann@example.com", address="192.0.2.10"):
    for _ in range(count):
        assert login_from(client, address, email, "wrong horse").status_code == 401


def test_after_five_failures_the_sixth_login_is_refused_even_with_the_right_password(client):
    register(client)
    fail_logins(client, ACCOUNT_LIMIT)

    # From another address too: the limit is the account's.
    assert_throttled(login_from(client, "192.0.2.20"))
    assert_throttled(login_from(client, "192.0.2.20", password="wrong horse"))


def test_once_the_window_is_over_the_right_password_logs_in_again(make_client):
    client = make_client(
        LOGIN_FAILURE_WINDOW_SECONDS=str(SHORT_WINDOW_SECONDS), MAX_LOGIN_FAILURES_PER_ACCOUNT="2"
    )
    register(client)
    fail_logins(client, 2)

    time.sleep(assert_throttled(login_from(client, "192.0.2.10"), SHORT_WINDOW_SECONDS))

    assert login_from(client, "192.0.2.10").status_code == 200


def test_a_successful_login_clears_the_accounts_failures(client):
    register(client)
    fail_logins(client, ACCOUNT_LIMIT - 1)

    assert login_from(client, "192.0.2.10").status_code == 200
    # From a second address, so that the first one's count stays below its own limit.
    fail_logins(client, ACCOUNT_LIMIT - 1, address="192.0.2.11")

    assert login_from(client, "192.0.2.11").status_code == 200


def test_an_unknown_email_is_throttled_exactly_like_a_real_account(client):
    # Otherwise a 429 would tell which emails have client.
    fail_logins(client, ACCOUNT_LIMIT, email="nobody@example.com")

    assert_throttled(login_from(client, "192.0.2.20", email="nobody@example.com"))


def test_too_many_failures_from_one_address_throttle_every_account_from_it(client):
    register(client)
    for number in range(ADDRESS_LIMIT):
        fail_logins(client, 1, email=f"guess-{number}@example.com", address="192.0.2.66")

    assert_throttled(login_from(client, "192.0.2.66"))
    assert login_from(client, "192.0.2.67").status_code == 200


def test_a_success_does_not_clear_the_addresss_failures(client):
    # Or guesses at other client could be hidden between logins to one's own.
    register(client)
    for number in range(ADDRESS_LIMIT - 1):
        fail_logins(client, 1, email=f"guess-{number}@example.com", address="192.0.2.66")
    assert login_from(client, "192.0.2.66").status_code == 200

    fail_logins(client, 1, email="guess-last@example.com", address="192.0.2.66")

    assert_throttled(login_from(client, "192.0.2.66"))


def test_x_forwarded_for_is_ignored_when_no_proxy_is_trusted(make_client):
    client = make_client(TRUSTED_PROXY_COUNT="0")
    register(client)
    # A new made-up address on every guess: all of them are the one peer address all the same.
    for number in range(ADDRESS_LIMIT):
        fail_logins(client, 1, f"guess-{number}@example.com", address=f"192.0.2.{number + 1}")

    assert_throttled(login_from(client, "192.0.2.200"))


def test_failures_are_stored_per_account_and_address_without_the_password(client, query):
    fail_logins(client, 2, email="Ann@Example.com ", address="192.0.2.10")

    rows = dict(query("SELECT throttle_key, failures FROM login_failure"))

    assert rows == {"account:ann@example.com": 2, "address:192.0.2.10": 2}


def test_a_password_typed_as_the_email_is_counted_only_against_the_address(client, query):
    fail_logins(client, 1, email="correct horse", address="192.0.2.10")

    keys = [key for (key,) in query("SELECT throttle_key FROM login_failure")]
    assert keys == ["address:192.0.2.10"]


def test_a_forwarded_address_that_is_not_an_ip_address_is_not_counted(client, query):
    fail_logins(client, 1, address="x" * 300)

    keys = [key for (key,) in query("SELECT throttle_key FROM login_failure")]
    assert keys == ["account:ann@example.com"]


def test_failures_of_windows_that_are_over_are_swept_away(make_client, query):
    client = make_client(LOGIN_FAILURE_WINDOW_SECONDS=str(SHORT_WINDOW_SECONDS))
    fail_logins(client, 1, email="old@example.com", address="192.0.2.10")
    time.sleep(SHORT_WINDOW_SECONDS + 0.1)

    fail_logins(client, 1, email="new@example.com", address="192.0.2.11")

    keys = {key for (key,) in query("SELECT throttle_key FROM login_failure")}
    assert keys == {"account:new@example.com", "address:192.0.2.11"}
