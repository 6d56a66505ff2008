"""Probes: /healthz says the process serves, /readyz says it can also reach MySQL."""

import dataclasses
import socket

import pytest

from auth import create_app


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def client_without_database(settings):
    settings = dataclasses.replace(settings, mysql_port=closed_port())
    return create_app(settings).test_client()


def test_healthz_answers_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_ok_when_mysql_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_503_as_json_when_mysql_is_unreachable(client_without_database):
    response = client_without_database.get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"


def test_healthz_still_answers_when_mysql_is_unreachable(client_without_database):
    assert client_without_database.get("/healthz").status_code == 200


def test_registering_while_mysql_is_unreachable_is_answered_503(client_without_database):
    response = client_without_database.post(
        "/register", json={"email": "ann@example.com", "password": "correct horse"}
    )

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
