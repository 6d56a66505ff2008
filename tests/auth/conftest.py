"""Fixtures for the auth service: a throwaway MySQL database, a signing key, the app and a client.

Only MariaDB has to be running (`scripts/stack.sh start`); nothing here fakes it. Each test that
asks for `app` gets a database of its own, `auth_test_<hex>`, built from mysql-init/01-auth.sql
and dropped afterwards.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import MySQLdb
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from auth import create_app, keygen
from auth.settings import Settings
from harness.stack import Stack, fresh_auth_database

# Where the tests find MariaDB; the stack's defaults, overridable like the services' settings.
MYSQL = {
    "host": os.environ.get("MYSQL_HOST", "127.0.0.1"),
    "port": int(os.environ.get("MYSQL_PORT", "3306")),
    "user": os.environ.get("MYSQL_USER", "auth"),
    "password": os.environ.get("MYSQL_PASSWORD", "auth"),
}


def basic_authorization(email: str, password: str) -> dict[str, str]:
    """Return the Authorization header curl -u would send, UTF-8 encoded."""
    credentials = base64.b64encode(f"{email}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {credentials}"}


@pytest.fixture(scope="session")
def mysql_server() -> dict:
    """The MariaDB the tests use; fail early and plainly if it is not running."""
    try:
        MySQLdb.connect(**MYSQL, connect_timeout=3).close()
    except MySQLdb.OperationalError as exc:
        pytest.fail(
            f"MariaDB is not reachable at {MYSQL['host']}:{MYSQL['port']} as {MYSQL['user']} "
            f"({exc}); run `scripts/stack.sh start` first"
        )
    return MYSQL


@pytest.fixture
def database(mysql_server: dict) -> Iterator[str]:
    """A fresh database with the auth schema, dropped after the test."""
    with fresh_auth_database(Stack.from_env(), "auth_test") as name:
        yield name


@pytest.fixture
def query(mysql_server: dict, database: str):
    """Run SQL against the test database directly, bypassing the service."""

    def run(sql: str, parameters: tuple = ()) -> tuple:
        connection = MySQLdb.connect(**mysql_server, database=database, charset="utf8mb4")
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, parameters)
                return cursor.fetchall()
        finally:
            connection.close()

    return run


@pytest.fixture
def private_key_file(tmp_path: Path) -> Path:
    """A new Ed25519 signing key, written the way `python -m auth.keygen` writes it."""
    keygen.write_missing(tmp_path / "secrets")
    return tmp_path / "secrets" / keygen.PRIVATE_KEY_NAME


@pytest.fixture
def environ(mysql_server: dict, database: str, private_key_file: Path) -> dict[str, str]:
    """The environment a deployed auth service would get, pointed at the test database and key."""
    return {
        "ENVIRONMENT": "development",
        "MYSQL_HOST": mysql_server["host"],
        "MYSQL_PORT": str(mysql_server["port"]),
        "MYSQL_USER": mysql_server["user"],
        "MYSQL_PASSWORD": mysql_server["password"],
        "MYSQL_DATABASE": database,
        "JWT_PRIVATE_KEY_FILE": str(private_key_file),
        "JWT_ISSUER": "mp3-auth",
        "JWT_AUDIENCE": "mp3-gateway",
        "JWT_TTL_SECONDS": "3600",
    }


@pytest.fixture
def settings(environ: dict[str, str]) -> Settings:
    return Settings.from_env(environ)


@pytest.fixture
def app(settings: Settings) -> Flask:
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class AccountActions:
    """What a user does with the service, in the words of the tests."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def register(
        self, email: str = "ann@example.com", password: str = "correct horse", as_form: bool = False
    ) -> TestResponse:
        fields = {"email": email, "password": password}
        if as_form:
            return self._client.post("/register", data=fields)
        return self._client.post("/register", json=fields)

    def login(
        self, email: str = "ann@example.com", password: str = "correct horse"
    ) -> TestResponse:
        return self._client.post("/login", headers=basic_authorization(email, password))


@pytest.fixture
def accounts(client: FlaskClient) -> AccountActions:
    return AccountActions(client)
