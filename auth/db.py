"""The MySQL tables `user` and `login_failure`: one connection per request, opened lazily and
closed at teardown."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import MySQLdb
from flask import Flask, current_app, g
from MySQLdb.constants import ER

from auth.errors import DatabaseUnavailable, EmailTaken

logger = logging.getLogger(__name__)

# Bounded waits, so a stuck database costs a request seconds rather than a gunicorn worker timeout.
CONNECT_TIMEOUT_SECONDS = 5
READ_WRITE_TIMEOUT_SECONDS = 10
# Tries of a transaction that InnoDB picks as a deadlock victim (see _run_in_transaction).
TRANSACTION_ATTEMPTS = 3


@dataclass(frozen=True)
class User:
    """A row of the `user` table."""

    id: int
    email: str
    password_hash: str


def get_db() -> MySQLdb.connections.Connection:
    """Return this request's connection, opening it on first use."""
    if "db" not in g:
        settings = current_app.config["SETTINGS"]
        try:
            g.db = MySQLdb.connect(
                host=settings.mysql_host,
                port=settings.mysql_port,
                user=settings.mysql_user,
                password=settings.mysql_password,
                database=settings.mysql_database,
                charset="utf8mb4",
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                read_timeout=READ_WRITE_TIMEOUT_SECONDS,
                write_timeout=READ_WRITE_TIMEOUT_SECONDS,
            )
        except MySQLdb.OperationalError as exc:
            logger.warning(
                "Cannot connect to MySQL at %s:%s: %s",
                settings.mysql_host,
                settings.mysql_port,
                exc,
            )
            raise DatabaseUnavailable() from exc
    return g.db


def close_db(exception: BaseException | None = None) -> None:
    """Close the request's connection, if one was opened."""
    connection = g.pop("db", None)
    if connection is not None:
        connection.close()


def init_app(app: Flask) -> None:
    """Close the connection when each request's application context ends."""
    app.teardown_appcontext(close_db)


def create_user(email: str, password_hash: str) -> User:
    """Insert a user and return it; raise EmailTaken when the email is already registered."""
    connection = get_db()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO `user` (email, password_hash) VALUES (%s, %s)",
                (email, password_hash),
            )
            user_id = cursor.lastrowid
        connection.commit()
    except MySQLdb.IntegrityError as exc:
        connection.rollback()
        # The unique key on email is the only constraint an insert can break.
        if exc.args[0] == ER.DUP_ENTRY:
            raise EmailTaken() from exc
        raise
    return User(id=user_id, email=email, password_hash=password_hash)


def find_user_by_email(email: str) -> User | None:
    """Return the user with this (normalized) email, or None."""
    with get_db().cursor() as cursor:
        cursor.execute(
            "SELECT id, email, password_hash FROM `user` WHERE email = %s",
            (email,),
        )
        row = cursor.fetchone()
    if row is None:
        return None
    user_id, stored_email, password_hash = row
    return User(id=user_id, email=stored_email, password_hash=password_hash)


def recent_login_failures(
    throttle_keys: list[str], window_seconds: int
) -> list[tuple[str, int, float]]:
    """Return (key, failures, seconds left) for each of the keys whose window is still open."""
    placeholders = ", ".join(["%s"] * len(throttle_keys))
    with get_db().cursor() as cursor:
        # The database's clock, not ours: every auth replica then measures windows alike.
        cursor.execute(
            "SELECT throttle_key, failures,"
            " TIMESTAMPDIFF(MICROSECOND, NOW(6), window_started_at + INTERVAL %s SECOND)"
            f" FROM login_failure WHERE throttle_key IN ({placeholders})"
            " AND window_started_at > NOW(6) - INTERVAL %s SECOND",
            (window_seconds, *throttle_keys, window_seconds),
        )
        rows = cursor.fetchall()
    return [(key, failures, microseconds / 1_000_000) for key, failures, microseconds in rows]


def record_login_failures(throttle_keys: list[str], window_seconds: int) -> None:
    """Add a failure to each key, starting a new window where the last one is over."""
    # MySQL assigns left to right, and a later assignment sees the new value of an earlier
    # column: failures comes first, so that both conditions read the old window.
    upsert = (
        "INSERT INTO login_failure (throttle_key, failures, window_started_at)"
        " VALUES (%s, 1, NOW(6))"
        " ON DUPLICATE KEY UPDATE"
        " failures = IF(window_started_at > NOW(6) - INTERVAL %s SECOND, failures + 1, 1),"
        " window_started_at = IF(window_started_at > NOW(6) - INTERVAL %s SECOND,"
        " window_started_at, NOW(6))"
    )
    _run_in_transaction([(upsert, (key, window_seconds, window_seconds)) for key in throttle_keys])
    # Without this, the row of every email and address ever tried would stay. It is its own
    # transaction, so its range locks are never held together with the rows above.
    _run_in_transaction([(
        "DELETE FROM login_failure WHERE window_started_at <= NOW(6) - INTERVAL %s SECOND",
        (window_seconds,),
    )])


def clear_login_failures(throttle_key: str) -> None:
    """Forget the failures counted against one key."""
    _run_in_transaction([("DELETE FROM login_failure WHERE throttle_key = %s", (throttle_key,))])


def _run_in_transaction(statements: list[tuple[str, tuple]]) -> None:
    connection = get_db()
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            with connection.cursor() as cursor:
                for sql, parameters in statements:
                    cursor.execute(sql, parameters)
            connection.commit()
            return
        except MySQLdb.OperationalError as exc:
            connection.rollback()
            # Concurrent upserts of one new key can deadlock in InnoDB. The victim's transaction
            # was rolled back whole, and the documented remedy is to run it again.
            if exc.args[0] != ER.LOCK_DEADLOCK or attempt == TRANSACTION_ATTEMPTS:
                raise
            logger.info("Deadlock on attempt %s of %s; trying again", attempt, TRANSACTION_ATTEMPTS)


def ping() -> None:
    """Check the database answers a trivial query; raise DatabaseUnavailable if not."""
    try:
        with get_db().cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except MySQLdb.Error as exc:
        logger.warning("MySQL readiness check failed: %s", exc)
        raise DatabaseUnavailable() from exc
