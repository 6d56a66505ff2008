"""Write the development secrets that are missing: `python -m auth.keygen DIR`.

    DIR/jwt-private.pem    auth signs JWTs with it (Ed25519, PEM PKCS#8)
    DIR/download-link.key  gateway and notification sign download links with it (32 bytes, hex)

The one way the project makes them: docker compose's one-shot `secrets` container runs this from
the auth image (which is why the download-link secret is written here too), `make secrets` runs
it from the venv, and the tests and the bench call write_missing() for directories of their own.
An existing file is never replaced: a new key would invalidate every token and link issued.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PRIVATE_KEY_NAME = "jwt-private.pem"
DOWNLOAD_LINK_KEY_NAME = "download-link.key"
DOWNLOAD_LINK_KEY_BYTES = 32


def private_key_pem() -> bytes:
    """Return a new Ed25519 private key as unencrypted PKCS#8 PEM."""
    return Ed25519PrivateKey.generate().private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def download_link_key() -> bytes:
    """Return a new download-link secret: random bytes, hex-encoded, one line."""
    return secrets.token_hex(DOWNLOAD_LINK_KEY_BYTES).encode("ascii") + b"\n"


def write_secret(path: Path, content: bytes) -> bool:
    """Create the file with mode 0600 unless it exists; return whether it was written."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists():
        return False
    # Write a temporary file (mkstemp makes it 0600) and link it into place: an interrupted run
    # leaves no half-written key, and os.link refuses to replace a file another run just wrote.
    descriptor, partial_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    partial = Path(partial_name)
    try:
        with os.fdopen(descriptor, "wb") as secret_file:
            secret_file.write(content)
        os.link(partial, path)
    except FileExistsError:
        return False
    finally:
        partial.unlink()
    return True


def write_missing(directory: Path) -> dict[Path, bool]:
    """Create each secret file that ``directory`` lacks; return every file and whether it is new."""
    return {
        directory / name: write_secret(directory / name, generate())
        for name, generate in [(PRIVATE_KEY_NAME, private_key_pem), (DOWNLOAD_LINK_KEY_NAME, download_link_key)]
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m auth.keygen",
        description="Write the development secrets that are missing.",
    )
    parser.add_argument("directory", type=Path, help="where to write the secret files")
    for path, created in write_missing(parser.parse_args(argv).directory).items():
        print(f"created {path}" if created else f"kept    {path} (already exists)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
