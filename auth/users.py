"""Registering and authenticating users: the rules, kept apart from HTTP and SQL."""

from __future__ import annotations

import logging
import re

from auth import db, passwords, throttling
from auth.db import User
from auth.errors import InvalidCredentials, InvalidEmail, InvalidPassword

logger = logging.getLogger(__name__)

MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path, and the column's width.
MAX_LOCAL_PART_LENGTH = 64
MIN_PASSWORD_LENGTH = 8
# 72 UTF-8 bytes (see passwords.py) is at most 72 characters, so it is the binding upper limit.
MAX_PASSWORD_BYTES = passwords.MAX_PASSWORD_BYTES

# Deliberately simple: an ASCII local part, "@", and a domain of at least two dotted labels.
# The only real proof of an address is a message that reaches it.
EMAIL_PATTERN = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+"
    r"@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)


def normalize_email(email: str) -> str:
    """Return the email stripped and lowercased, so `Ann@X.org` and `ann@x.org` are one account."""
    return email.strip().lower()


def check_email(email: str) -> str:
    """Return the normalized email, or raise InvalidEmail saying what is wrong."""
    email = normalize_email(email)
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(f"The email address must be at most {MAX_EMAIL_LENGTH} characters.")
    # fullmatch, not match with "$": "$" would also accept a trailing newline.
    if not EMAIL_PATTERN.fullmatch(email) or len(email.partition("@")[0]) > MAX_LOCAL_PART_LENGTH:
        raise InvalidEmail("The email address is not valid.")
    return email


def check_password(password: str) -> None:
    """Raise InvalidPassword unless the password is 8 characters to 72 UTF-8 bytes long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidPassword(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    try:
        size = len(password.encode())
    except UnicodeEncodeError:
        # JSON can carry a lone surrogate ("\ud800"), which has no UTF-8 form.
        raise InvalidPassword("The password must be valid Unicode text.") from None
    if size > MAX_PASSWORD_BYTES:
        raise InvalidPassword(
            f"The password must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8 "
            f"({MAX_PASSWORD_BYTES} plain ASCII characters, fewer with accents or emoji)."
        )


def register(email: str, password: str) -> User:
    """Create an account; raise InvalidEmail, InvalidPassword or EmailTaken."""
    email = check_email(email)
    check_password(password)
    user = db.create_user(email, passwords.hash_password(password))
    logger.info("Registered user %s", user.id)
    return user


def authenticate(email: str, password: str, client_address: str | None = None) -> User:
    """Return the user these credentials belong to; raise InvalidCredentials or LoginThrottled."""
    email = normalize_email(email)
    # Counted against an account only if the email could be one: a password typed into the
    # email field by mistake is then not stored in the failures table.
    attempt = throttling.LoginAttempt(
        account=email if _could_be_email(email) else None, address=client_address
    )
    # Before the password is checked: while throttled, even the right password gets no answer
    # about whether it is right.
    throttling.check(attempt)
    user = db.find_user_by_email(email)
    # Always run bcrypt, even without a user, so the answer's timing does not reveal accounts.
    matches = passwords.verify_password(password, user.password_hash if user else None)
    if user is None or not matches:
        throttling.record_failure(attempt)
        raise InvalidCredentials()
    throttling.record_success(attempt)
    return user


def _could_be_email(email: str) -> bool:
    try:
        check_email(email)
    except InvalidEmail:
        return False
    return True
