"""Bearer tokens are verified locally against auth's JWKS: anything but a genuine, current token
signed by a published key and meant for the gateway is refused with 401 on every protected route."""
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from gateway import tokens
from tests.gateway.conftest import AUDIENCE, ISSUER, JWKS_PATH, Signer, b64url

# Every route that needs a bearer token (download also takes a signed link instead).
PROTECTED = [
    ("POST", "/upload"),
    ("GET", "/jobs"),
    ("GET", "/jobs/0123456789abcdef0123456789abcdef"),
    ("DELETE", "/jobs/0123456789abcdef0123456789abcdef"),
    ("GET", "/download?fid=0123456789abcdef01234567"),
]


def unsigned_token(header, claims, signing_secret=None):
    """Assemble a JWT by hand, as an attacker would (PyJWT refuses to make these)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    if signing_secret is None:
        return signing_input + "."
    mac = hmac.new(signing_secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def tampered(token):
    """The same signature over a payload that now claims to be user 1."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "1"
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def bad_authorization(kind, signer, user):
    """The Authorization header value for each kind of bad credential."""
    genuine_claims = signer.claims(user.id, user.email)
    stranger = Signer()
    return {
        "basic": "Basic " + base64.b64encode(b"someone:password").decode(),
        "empty bearer": "Bearer ",
        "not a jwt": "Bearer not.a.jwt",
        "garbage": "Bearer " + "x" * 300,
        "expired": "Bearer " + signer.token(user.id, user.email, iat=1_600_000_000, exp=1_600_003_600),
        "tampered": "Bearer " + tampered(user.token),
        "other key, our kid": "Bearer " + stranger.token(user.id, user.email, kid=signer.kid),
        "other key, unknown kid": "Bearer " + stranger.token(user.id, user.email),
        "alg none": "Bearer " + unsigned_token({"alg": "none", "typ": "JWT", "kid": signer.kid}, genuine_claims),
        "HS256 with the public key as secret": "Bearer " + unsigned_token(
            {"alg": "HS256", "typ": "JWT", "kid": signer.kid}, genuine_claims, signing_secret=signer.public_pem()),
        "HS256 with the JWK x as secret": "Bearer " + unsigned_token(
            {"alg": "HS256", "typ": "JWT", "kid": signer.kid}, genuine_claims, signing_secret=signer.jwk["x"].encode()),
        "wrong audience": "Bearer " + signer.token(user.id, user.email, aud="mp3-admin"),
        "wrong issuer": "Bearer " + signer.token(user.id, user.email, iss="someone-else"),
        "no exp": "Bearer " + signer.token(user.id, user.email, exp=None),
        "no iat": "Bearer " + signer.token(user.id, user.email, iat=None),
        "no sub": "Bearer " + signer.token(user.id, user.email, sub=None),
        "no email": "Bearer " + jwt.encode({k: v for k, v in genuine_claims.items() if k != "email"},
                                           signer.private_key, algorithm="EdDSA", headers={"kid": signer.kid}),
        "sub not a user id": "Bearer " + signer.token(user.id, user.email, sub="admin"),
        "no kid": "Bearer " + jwt.encode(genuine_claims, signer.private_key, algorithm="EdDSA"),
    }[kind]


EXPECTED_CODE = {"basic": "missing_token", "expired": "token_expired"}
KINDS = [
    "basic", "empty bearer", "not a jwt", "garbage", "expired", "tampered", "other key, our kid",
    "other key, unknown kid", "alg none", "HS256 with the public key as secret",
    "HS256 with the JWK x as secret", "wrong audience", "wrong issuer", "no exp", "no iat", "no sub",
    "no email", "sub not a user id", "no kid",
]


@pytest.mark.parametrize("method, path", PROTECTED)
def test_a_request_without_a_token_is_refused_with_401(client, method, path):
    response = client.open(path, method=method)

    assert response.status_code == 401
    assert response.json["error"]["code"] == "missing_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method, path", PROTECTED)
def test_a_bad_token_is_refused_with_401_on_every_protected_route(client, signer, user, method, path, kind):
    response = client.open(path, method=method, headers={"Authorization": bad_authorization(kind, signer, user)})

    assert response.status_code == 401, response.json
    assert response.json["error"]["code"] == EXPECTED_CODE.get(kind, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_genuine_token_is_accepted(client, user):
    response = client.get("/jobs", headers=user.headers)

    assert response.status_code == 200


def test_a_token_from_a_rotated_key_is_accepted_once_auth_publishes_the_key(client, auth_server, published_keys, user):
    assert client.get("/jobs", headers=user.headers).status_code == 200
    fetches_before = auth_server.jwks_fetches
    rotated = Signer()
    published_keys.append(rotated)

    response = client.get("/jobs", headers={"Authorization": "Bearer " + rotated.token(user.id, user.email)})

    assert response.status_code == 200
    # The unknown kid made the gateway fetch the key set again, once.
    assert auth_server.jwks_fetches == fetches_before + 1


def test_the_key_set_is_cached_between_requests(client, auth_server, user):
    client.get("/jobs", headers=user.headers)
    fetches = auth_server.jwks_fetches

    for _ in range(5):
        client.get("/jobs", headers=user.headers)

    assert auth_server.jwks_fetches == fetches


def test_junk_tokens_do_not_make_the_gateway_fetch_keys(client, auth_server, signer, user):
    fetches = auth_server.jwks_fetches

    for kind in ("not a jwt", "alg none", "HS256 with the public key as secret", "no kid"):
        client.get("/jobs", headers={"Authorization": bad_authorization(kind, signer, user)})

    assert auth_server.jwks_fetches == fetches


def test_when_auth_keys_cannot_be_fetched_the_answer_is_503_not_401(make_app, closed_port, user):
    client = make_app(AUTH_URL=f"http://127.0.0.1:{closed_port}").test_client()

    response = client.get("/jobs", headers=user.headers)

    assert response.status_code == 503
    assert response.json["error"]["code"] == "auth_unavailable"


# The accepted-token cache (gateway/tokens.py Verifier): a token is checked once, and a cached
# one is still refused the moment it expires or its key is withdrawn.

@pytest.fixture
def checks(monkeypatch):
    """Count the full signature-and-claims checks (tokens.check) the gateway makes."""
    counted = []
    real_check = tokens.check

    def counting_check(token, *args):
        counted.append(token)
        return real_check(token, *args)

    monkeypatch.setattr(tokens, "check", counting_check)
    return counted


def test_an_accepted_token_is_checked_once_then_taken_from_the_cache(client, user, checks):
    for _ in range(5):
        assert client.get("/jobs", headers=user.headers).status_code == 200

    assert checks == [user.token]


def test_a_cached_token_is_refused_as_expired_the_moment_its_lifetime_ends(client, signer, user):
    # Valid for about two more seconds, the gateway's leeway included.
    expires_at = int(time.time()) - tokens.LEEWAY_SECONDS + 2
    token = signer.token(user.id, user.email, iat=expires_at - 3600, exp=expires_at)
    headers = {"Authorization": "Bearer " + token}
    assert client.get("/jobs", headers=headers).status_code == 200
    # Past the moment PyJWT itself refuses it: exp plus the leeway.
    while time.time() <= expires_at + tokens.LEEWAY_SECONDS:
        time.sleep(0.05)

    response = client.get("/jobs", headers=headers)

    assert response.status_code == 401
    assert response.json["error"]["code"] == "token_expired"


def test_a_cached_token_is_refused_once_a_rotation_withdraws_its_key(client, auth_server, published_keys, user):
    assert client.get("/jobs", headers=user.headers).status_code == 200
    # auth rotates and stops publishing the old key; a token of the new key makes the gateway
    # fetch the key set again.
    rotated = Signer()
    published_keys[:] = [rotated]
    new_headers = {"Authorization": "Bearer " + rotated.token(user.id, user.email)}
    assert client.get("/jobs", headers=new_headers).status_code == 200

    response = client.get("/jobs", headers=user.headers)

    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_token"


def test_a_cached_token_is_checked_again_when_the_key_set_is_due_to_be_fetched(auth_server, published_keys, signer,
                                                                               user):
    verifier = tokens.Verifier(auth_server.url + JWKS_PATH, ISSUER, AUDIENCE, key_set_lifespan=1)
    assert verifier.verify(user.token).id == user.id
    published_keys[:] = [Signer()]
    fetches = auth_server.jwks_fetches
    # The key set is stale after its lifespan (PyJWKClient measures it on the monotonic clock).
    stale_at = time.monotonic() + 1
    while time.monotonic() <= stale_at:
        time.sleep(0.05)

    with pytest.raises(tokens.InvalidToken):
        verifier.verify(user.token)
    assert auth_server.jwks_fetches > fetches


def test_the_cache_keeps_at_most_its_size_of_tokens(auth_server, signer, user, checks):
    verifier = tokens.Verifier(auth_server.url + JWKS_PATH, ISSUER, AUDIENCE, max_tokens=2)
    first, second, third = (signer.token(user.id, user.email, lifetime=3600 + n) for n in range(3))
    for token in (first, second, third, third, second):
        verifier.verify(token)
    assert checks == [first, second, third]

    verifier.verify(first)  # the least recently used one was dropped for the third

    assert checks == [first, second, third, first]


def test_a_token_is_kept_no_longer_than_its_lifetime(auth_server, signer, user, checks):
    now = [time.time()]
    verifier = tokens.Verifier(auth_server.url + JWKS_PATH, ISSUER, AUDIENCE, clock=lambda: now[0])
    verifier.verify(user.token)
    verifier.verify(user.token)
    assert len(checks) == 1

    now[0] += 3600 + tokens.LEEWAY_SECONDS  # the cache's clock moves past the token's exp

    verifier.verify(user.token)  # checked again (and, on the real clock, still valid)
    assert len(checks) == 2
