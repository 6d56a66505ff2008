"""`python -m auth.keygen DIR`: development secrets written once, readable by their owner only."""

import stat
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth import keygen

REPO = Path(__file__).resolve().parents[2]


def test_the_private_key_is_ed25519_pkcs8_pem_with_mode_0600(tmp_path):
    written = keygen.write_missing(tmp_path / "secrets")

    path = tmp_path / "secrets" / "jwt-private.pem"
    assert written[path] is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)


def test_an_existing_key_is_never_replaced(tmp_path):
    path = tmp_path / "jwt-private.pem"
    path.write_bytes(b"the key every token so far was signed with")

    written = keygen.write_missing(tmp_path)

    assert written[path] is False
    assert path.read_bytes() == b"the key every token so far was signed with"
    assert sorted(item.name for item in tmp_path.iterdir()) == ["download-link.key", "jwt-private.pem"]


def test_the_command_writes_the_missing_secrets_and_keeps_the_rest(tmp_path):
    def run():
        return subprocess.run(
            [sys.executable, "-m", "auth.keygen", str(tmp_path / "secrets")],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    first = run()
    link_key = (tmp_path / "secrets" / "download-link.key").read_text()
    second = run()

    assert "created" in first and "kept" not in first
    assert second.count("kept") == 2
    assert len(bytes.fromhex(link_key.strip())) == 32
    assert (tmp_path / "secrets" / "download-link.key").read_text() == link_key
    for path in (tmp_path / "secrets").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
