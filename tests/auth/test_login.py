"""POST /login: HTTP Basic credentials in, a bare EdDSA JWT out; 401 with a challenge otherwise."""

import base64
import time

import jwt
import pytest

CHALLENGE = 'Basic realm="mp3"'


def assert_refused(response):
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert response.get_json()["error"]["code"] == "invalid_credentials"


def verify_with_published_key(client, token):
    """Verify the token as the gateway does: with the JWKS key its kid names."""
    jwk_set = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").get_json())
    kid = jwt.get_unverified_header(token)["kid"]
    signing_key = next(key for key in jwk_set.keys if key.key_id == kid)
    return jwt.decode(
        token, signing_key, algorithms=["EdDSA"], audience="mp3-gateway", issuer="mp3-auth"
    )


def test_logging_in_returns_a_bare_jwt_that_verifies_with_the_published_key(client, accounts):
    user_id = accounts.register("ann@example.com", "correct horse").get_json()["id"]

    before = int(time.time())
    response = accounts.login("ann@example.com", "correct horse")
    after = int(time.time())

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    token = response.get_data(as_text=True)
    assert token.count(".") == 2 and token.strip() == token
    claims = verify_with_published_key(client, token)
    assert set(claims) == {"sub", "email", "iat", "exp", "iss", "aud"}
    assert claims["sub"] == str(user_id)
    assert claims["email"] == "ann@example.com"
    assert (claims["iss"], claims["aud"]) == ("mp3-auth", "mp3-gateway")
    assert before <= claims["iat"] <= after
    assert claims["exp"] - claims["iat"] == 3600


def test_the_email_is_matched_regardless_of_case_and_spaces(accounts):
    accounts.register("ann@example.com", "correct horse")

    response = accounts.login(" Ann@EXAMPLE.com", "correct horse")

    assert response.status_code == 200


def test_a_password_with_a_colon_survives_basic_authentication(accounts):
    accounts.register("ann@example.com", "correct:horse:battery")

    assert accounts.login("ann@example.com", "correct:horse:battery").status_code == 200


def test_a_wrong_password_is_refused_with_401(accounts):
    accounts.register("ann@example.com", "correct horse")

    assert_refused(accounts.login("ann@example.com", "Correct horse"))


def test_an_unknown_email_is_refused_exactly_like_a_wrong_password(accounts):
    accounts.register("ann@example.com", "correct horse")

    wrong_password = accounts.login("ann@example.com", "wrong horse")
    unknown_email = accounts.login("nobody@example.com", "wrong horse")

    assert_refused(unknown_email)
    assert unknown_email.get_json() == wrong_password.get_json()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": ""}, id="empty"),
        pytest.param({"Authorization": "Bearer abc.def.ghi"}, id="bearer"),
        pytest.param({"Authorization": "Basic"}, id="basic-without-credentials"),
        pytest.param({"Authorization": "Basic !!!not-base64!!!"}, id="not-base64"),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
            id="not-utf8",
        ),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(b"ann@example.com").decode()},
            id="no-colon",
        ),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(b":").decode()}, id="empty-credentials"
        ),
    ],
)
def test_missing_or_malformed_credentials_are_refused_with_401(client, accounts, headers):
    accounts.register("ann@example.com", "correct horse")

    assert_refused(client.post("/login", headers=headers))


def test_a_password_longer_than_bcrypt_reads_does_not_log_in(accounts):
    # bcrypt alone would accept this: it ignores everything after byte 72.
    accounts.register("ann@example.com", "a" * 72)

    assert_refused(accounts.login("ann@example.com", "a" * 72 + "extra"))


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("' OR 1=1 --", "anything"),
        ("ann@example.com' --", "anything"),
        ("ann@example.com", "' OR '1'='1"),
        ('" OR ""="', '" OR ""="'),
        ("ann@example.com; DROP TABLE user; --", "x"),
    ],
)
def test_sql_in_the_credentials_logs_no_one_in(accounts, query, email, password):
    accounts.register("ann@example.com", "correct horse")

    assert_refused(accounts.login(email, password))
    assert len(query("SELECT id FROM `user`")) == 1


def test_get_on_login_is_refused_with_405_as_json(client):
    response = client.get("/login")

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"  # no OPTIONS: it is a method no route has (mp3common.web)
    assert response.get_json()["error"]["code"] == "method_not_allowed"
