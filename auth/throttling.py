"""Login throttling: after too many failed logins for one account, or from one client address,
further logins are refused for a while, even with the right password.

Per account, it stops the guessing of one user's password from many addresses; per address, the
trying of common passwords against many accounts from one. The counts live in MySQL (the
`login_failure` table), so every auth process and replica shares them. A window starts with the
first failure and lasts LOGIN_FAILURE_WINDOW_SECONDS; a successful login clears its account's
count, but not its address's, or guessing could be hidden between logins to one's own account.

Attempts that arrive at the same moment are all checked before any of them is counted, so a burst
can exceed a limit by the number in flight; the gateway's rate limit per address bounds that.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass

from flask import current_app

from auth import db
from auth.errors import LoginThrottled

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginAttempt:
    """What a login is counted against: the account it names, and the address it comes from.

    Either may be None: an email that cannot be an account, or an address no one told us. An
    address that is not an IP address (a garbled X-Forwarded-For) is not counted either: it
    could be any text, of any length.
    """

    account: str | None
    address: str | None

    def limits(self) -> dict[str, int]:
        """Each throttle key of this attempt, with the failures it may have in one window."""
        settings = current_app.config["SETTINGS"]
        limits = {}
        if self.account:
            limits[f"account:{self.account}"] = settings.max_login_failures_per_account
        address = _canonical_ip_address(self.address)
        if address:
            limits[f"address:{address}"] = settings.max_login_failures_per_address
        return limits


def check(attempt: LoginAttempt) -> None:
    """Raise LoginThrottled if the account or the address has used up its failures for now."""
    limits = attempt.limits()
    if not limits:
        return
    window_seconds = current_app.config["SETTINGS"].login_failure_window_seconds
    waits = [
        seconds_left
        for key, failures, seconds_left in db.recent_login_failures(list(limits), window_seconds)
        if failures >= limits[key]
    ]
    if waits:
        # Logged without the key: it holds an email, which the logs do not.
        logger.warning("Refused a login: too many failed logins for its account or address")
        raise LoginThrottled(retry_after=max(1, math.ceil(max(waits))))


def record_failure(attempt: LoginAttempt) -> None:
    """Count a failed login against the account and the address."""
    limits = attempt.limits()
    if limits:
        window_seconds = current_app.config["SETTINGS"].login_failure_window_seconds
        db.record_login_failures(list(limits), window_seconds)


def record_success(attempt: LoginAttempt) -> None:
    """Forget the account's failures: its owner has just proved to know the password."""
    if attempt.account:
        db.clear_login_failures(f"account:{attempt.account}")


def _canonical_ip_address(text: str | None) -> str | None:
    # One key per address however it is written: "2001:DB8:0::1" and "2001:db8::1" are one.
    try:
        return str(ipaddress.ip_address(text or ""))
    except ValueError:
        return None
