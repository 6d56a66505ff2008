"""Tokens: EdDSA JWTs with the agreed claims, a thumbprint kid, and a JWKS for verifiers."""

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from auth import create_app, keygen, tokens
from auth.settings import Settings

# The Ed25519 key of RFC 8037, appendix A.1, and its RFC 7638 thumbprint from appendix A.3.
RFC_8037_PRIVATE_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC_8037_PUBLIC_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC_8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def decode_base64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_issuer(private_key=None, previous_public_keys=(), ttl_seconds=3600):
    return tokens.TokenIssuer(
        private_key=private_key or Ed25519PrivateKey.generate(),
        previous_public_keys=previous_public_keys,
        issuer="mp3-auth",
        audience="mp3-gateway",
        ttl_seconds=ttl_seconds,
    )


def write_pem(path, pem):
    path.write_bytes(pem)
    return path


def public_pem(private_key):
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_the_kid_is_the_rfc_7638_thumbprint_of_the_public_key():
    private_key = Ed25519PrivateKey.from_private_bytes(decode_base64url(RFC_8037_PRIVATE_D))

    jwk = tokens.public_jwk(private_key.public_key())

    assert jwk["x"] == RFC_8037_PUBLIC_X
    assert jwk["kid"] == RFC_8037_THUMBPRINT
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": RFC_8037_PUBLIC_X,
        "kid": RFC_8037_THUMBPRINT,
        "alg": "EdDSA",
        "use": "sig",
    }


def test_a_token_carries_the_agreed_claims_and_verifies_with_the_public_key():
    private_key = Ed25519PrivateKey.generate()
    issuer = make_issuer(private_key)

    token = issuer.issue(42, "ann@example.com", now=1_700_000_000)

    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "kid": issuer.kid, "typ": "JWT"}
    claims = jwt.decode(
        token,
        private_key.public_key(),
        algorithms=["EdDSA"],
        audience="mp3-gateway",
        issuer="mp3-auth",
        options={"verify_exp": False},
    )
    assert claims == {
        "sub": "42",
        "email": "ann@example.com",
        "iat": 1_700_000_000,
        "exp": 1_700_003_600,
        "iss": "mp3-auth",
        "aud": "mp3-gateway",
    }


def test_an_expired_token_is_refused_by_a_verifier():
    private_key = Ed25519PrivateKey.generate()
    issued_61_seconds_ago = int(time.time()) - 61
    token = make_issuer(private_key, ttl_seconds=60).issue(
        1, "ann@example.com", issued_61_seconds_ago
    )

    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, private_key.public_key(), algorithms=["EdDSA"], audience="mp3-gateway")


def test_the_jwks_lists_the_current_key_then_previous_ones_once_each():
    current, previous = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    issuer = make_issuer(
        current, previous_public_keys=[previous.public_key(), previous.public_key()]
    )

    kids = [jwk["kid"] for jwk in issuer.jwks()["keys"]]

    assert kids == [
        tokens.public_jwk(current.public_key())["kid"],
        tokens.public_jwk(previous.public_key())["kid"],
    ]


def test_a_token_verifies_with_the_key_its_kid_names_in_the_jwks():
    issuer = make_issuer(previous_public_keys=[Ed25519PrivateKey.generate().public_key()])
    token = issuer.issue(7, "bob@example.com")

    # What a verifier such as the gateway does with the published document.
    jwk_set = jwt.PyJWKSet.from_json(json.dumps(issuer.jwks()))
    kid = jwt.get_unverified_header(token)["kid"]
    signing_key = next(key for key in jwk_set.keys if key.key_id == kid)
    claims = jwt.decode(token, signing_key, algorithms=["EdDSA"], audience="mp3-gateway")

    assert claims["sub"] == "7"


def test_keys_are_loaded_from_the_files_the_settings_name(tmp_path):
    keygen.write_missing(tmp_path)
    private_key_file = tmp_path / keygen.PRIVATE_KEY_NAME
    previous = Ed25519PrivateKey.generate()
    previous_file = write_pem(tmp_path / "previous.pem", public_pem(previous))

    private_key = tokens.load_private_key(private_key_file)
    public_key = tokens.load_public_key(previous_file)

    assert isinstance(private_key, Ed25519PrivateKey)
    assert tokens.public_jwk(public_key) == tokens.public_jwk(previous.public_key())


def test_a_missing_key_file_is_reported_with_its_path(tmp_path):
    missing = tmp_path / "nowhere.pem"

    with pytest.raises(tokens.KeyFileError, match=str(missing)):
        tokens.load_private_key(missing)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"not a key\n", id="garbage"),
        pytest.param(
            generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            id="rsa-key",
        ),
        pytest.param(
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"passphrase"),
            ),
            id="encrypted-key",
        ),
    ],
)
def test_a_private_key_file_that_is_not_a_plain_ed25519_key_is_refused(tmp_path, content):
    path = write_pem(tmp_path / "key.pem", content)

    with pytest.raises(tokens.KeyFileError, match=str(path)):
        tokens.load_private_key(path)


def test_a_private_key_where_a_public_one_belongs_is_refused(tmp_path):
    keygen.write_missing(tmp_path)
    private_key_file = tmp_path / keygen.PRIVATE_KEY_NAME

    with pytest.raises(tokens.KeyFileError, match=str(private_key_file)):
        tokens.load_public_key(private_key_file)


def test_a_missing_signing_key_stops_the_service_at_start_up(tmp_path):
    missing = tmp_path / "jwt-private.pem"

    with pytest.raises(tokens.KeyFileError, match=str(missing)):
        create_app(Settings.from_env({"JWT_PRIVATE_KEY_FILE": str(missing)}))
