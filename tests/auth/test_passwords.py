"""Password hashing: bcrypt, and no timing difference between unknown and known accounts."""

import time

import bcrypt

from auth import passwords


def test_a_hash_is_bcrypt_at_the_configured_cost_and_verifies():
    password_hash = passwords.hash_password("correct horse")

    assert password_hash.startswith(f"$2b${passwords.BCRYPT_ROUNDS:02d}$")
    assert passwords.verify_password("correct horse", password_hash)
    assert not passwords.verify_password("Correct horse", password_hash)


def test_without_a_hash_verification_fails():
    assert not passwords.verify_password("correct horse", None)


def test_the_dummy_hash_costs_as_much_as_a_real_one():
    # Its cost is what makes an unknown email as slow to refuse as a wrong password.
    assert passwords.DUMMY_HASH.startswith(f"$2b${passwords.BCRYPT_ROUNDS:02d}$".encode())
    assert len(passwords.DUMMY_HASH) == 60


def test_an_unknown_account_takes_as_long_to_refuse_as_a_wrong_password():
    password_hash = passwords.hash_password("correct horse")

    started = time.perf_counter()
    passwords.verify_password("wrong horse", password_hash)
    known = time.perf_counter() - started
    started = time.perf_counter()
    passwords.verify_password("wrong horse", None)
    unknown = time.perf_counter() - started

    # Both run one bcrypt check of the same cost. Skipping it for unknown emails would make them
    # about 10,000 times faster; the loose bound keeps a busy machine from failing the test.
    assert unknown > known / 10


def test_a_password_bcrypt_would_truncate_never_matches():
    # bcrypt ignores byte 73 onwards, so this hash also "matches" any longer password.
    password_hash = bcrypt.hashpw(b"a" * 72, bcrypt.gensalt(4)).decode()

    assert passwords.verify_password("a" * 72, password_hash)
    assert not passwords.verify_password("a" * 72 + "anything", password_hash)
