"""bcrypt password hashing, with checks that take as long whether or not the account exists."""

from __future__ import annotations

import bcrypt

# bcrypt's default cost; each step doubles the work. Stored hashes carry their own cost, so raising
# this later only affects new hashes.
BCRYPT_ROUNDS = 12

# bcrypt ignores every byte after the 72nd, so two long passwords sharing a prefix would match.
# We refuse longer passwords rather than pre-hash them (SHA-256 then bcrypt): pre-hashing is a
# home-made construction that is easy to get subtly wrong (NUL bytes, "hash shucking"), and
# 72 bytes is already more than the 64 characters NIST asks verifiers to accept for ASCII.
MAX_PASSWORD_BYTES = 72

# A hash, at BCRYPT_ROUNDS, of a random password nobody kept. A login for an unknown email is
# checked against it so that it costs the same bcrypt work as a wrong password for a real one.
DUMMY_HASH = b"$2b$12$Q077pGZEK.2GynbiB0d6oOq0UaME78Yy5B9cH6f2MclTFIYfwH3PC"


def hash_password(password: str) -> str:
    """Return the bcrypt hash (`$2b$...`) of a password already checked by the caller."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")


def verify_password(password: str, password_hash: str | None) -> bool:
    """Return whether the password matches the hash; with no hash, spend the same time and fail."""
    password_bytes = password.encode()
    # A password bcrypt would truncate never matches: registration refused those.
    acceptable = len(password_bytes) <= MAX_PASSWORD_BYTES
    if password_hash is None or not acceptable:
        bcrypt.checkpw(password_bytes, DUMMY_HASH)
        return False
    return bcrypt.checkpw(password_bytes, password_hash.encode("ascii"))
