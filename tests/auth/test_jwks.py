"""GET /.well-known/jwks.json: the public keys that verify auth's tokens, during rotations too."""

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth import create_app
from auth.settings import Settings


def write_public_key(path):
    """Write the public half of a new key, as an operator keeps it after a rotation."""
    public_key = Ed25519PrivateKey.generate().public_key()
    path.write_bytes(
        public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def test_the_jwks_holds_the_current_key_under_the_kid_tokens_carry(client, accounts):
    accounts.register("ann@example.com", "correct horse")
    token = accounts.login("ann@example.com", "correct horse").get_data(as_text=True)

    response = client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    (jwk,) = response.get_json()["keys"]
    assert jwk["kid"] == jwt.get_unverified_header(token)["kid"]
    assert {key: jwk[key] for key in ("kty", "crv", "alg", "use")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
    }
    assert "d" not in jwk  # the private part never leaves the service


def test_previous_keys_stay_published_after_a_rotation(environ, tmp_path):
    previous_files = [write_public_key(tmp_path / f"previous-{n}.pem") for n in (1, 2)]
    environ["JWT_PREVIOUS_PUBLIC_KEY_FILES"] = ",".join(str(path) for path in previous_files)
    client = create_app(Settings.from_env(environ)).test_client()

    keys = client.get("/.well-known/jwks.json").get_json()["keys"]

    assert len(keys) == 3
    assert len({jwk["kid"] for jwk in keys}) == 3
    previous_x = {
        jwt.PyJWK.from_dict(jwk).key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for jwk in keys[1:]
    }
    assert previous_x == {path.read_bytes() for path in previous_files}
