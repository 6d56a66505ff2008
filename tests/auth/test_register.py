"""POST /register: an account from an email and a password, sent as JSON or as a form."""

import pytest


@pytest.mark.parametrize("as_form", [False, True], ids=["json", "form"])
def test_registering_creates_an_account(accounts, query, as_form):
    response = accounts.register("ann@example.com", "correct horse", as_form=as_form)

    assert response.status_code == 201
    body = response.get_json()
    assert isinstance(body["id"], int)
    assert body == {"id": body["id"], "email": "ann@example.com"}
    assert query("SELECT id, email FROM `user`") == ((body["id"], "ann@example.com"),)


def test_the_email_is_stored_trimmed_and_lowercase(accounts):
    response = accounts.register("  Ann.Lee@Example.COM ", "correct horse")

    assert response.status_code == 201
    assert response.get_json()["email"] == "ann.lee@example.com"


def test_each_account_gets_its_own_id(accounts):
    first = accounts.register("ann@example.com").get_json()["id"]
    second = accounts.register("bob@example.com").get_json()["id"]

    assert first != second


@pytest.mark.parametrize("again", ["ann@example.com", "ANN@Example.com", " ann@example.com "])
def test_registering_an_email_twice_is_refused_with_409(accounts, query, again):
    accounts.register("ann@example.com", "correct horse")

    response = accounts.register(again, "another password")

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "email_taken"
    assert len(query("SELECT id FROM `user`")) == 1


@pytest.mark.parametrize(
    "email",
    [
        "",
        "ann",
        "ann@",
        "@example.com",
        "ann@example",
        "ann@@example.com",
        "ann lee@example.com",
        "ann@exa mple.com",
        "ann@-example.com",
        "ann@example..com",
        "ann@example.com\r\nBcc: eve@example.com",
        "ann\n@example.com",
        "<ann@example.com>",
        "ann@example.com, bob@example.com",
        "ännchen@example.com",
        "a" * 65 + "@example.com",
        "ann@" + "a" * 250 + ".com",
        "' OR 1=1 --",
    ],
)
def test_an_invalid_email_is_refused_with_400(accounts, query, email):
    response = accounts.register(email, "correct horse")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_email"
    assert query("SELECT id FROM `user`") == ()


@pytest.mark.parametrize(
    "email",
    ["a@b.co", "ann.lee+mp3@mail.example.org", "o'brien@example.ie", "x_y-z@sub-1.example.com"],
)
def test_an_unusual_but_valid_email_is_accepted(accounts, email):
    assert accounts.register(email, "correct horse").status_code == 201


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("", id="empty"),
        pytest.param("seven77", id="7-characters"),
        pytest.param("a" * 73, id="73-ascii-bytes"),
        pytest.param("a" * 129, id="129-characters"),
        pytest.param("\N{GRINNING FACE}" * 19, id="76-bytes-in-19-emoji"),
    ],
)
def test_a_password_outside_the_rules_is_refused_with_400(accounts, query, password):
    response = accounts.register("ann@example.com", password)

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_password"
    assert query("SELECT id FROM `user`") == ()


def test_a_too_long_password_is_refused_with_a_message_saying_why(accounts):
    response = accounts.register("ann@example.com", "a" * 73)

    assert "72 bytes" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("eight888", id="8-characters"),
        pytest.param("a" * 72, id="72-ascii-bytes"),
        pytest.param("\N{GRINNING FACE}" * 18, id="72-bytes-in-18-emoji"),
        pytest.param("pass word with spaces", id="spaces"),
    ],
)
def test_a_password_within_the_rules_is_accepted(accounts, password):
    accounts.register("ann@example.com", password)

    assert accounts.login("ann@example.com", password).status_code == 200


def test_a_password_that_is_not_valid_unicode_is_refused(client):
    # A lone surrogate: legal in JSON text, impossible to encode as UTF-8.
    response = client.post(
        "/register",
        data='{"email": "ann@example.com", "password": "abcdefgh\\ud800"}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_password"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"email": "ann@example.com", "password": ', id="malformed-json"),
        pytest.param("", id="empty-json"),
        pytest.param('["ann@example.com", "correct horse"]', id="json-array"),
        pytest.param('"ann@example.com"', id="json-string"),
        pytest.param('{"email": "ann@example.com"}', id="no-password"),
        pytest.param('{"password": "correct horse"}', id="no-email"),
        pytest.param(
            '{"email": ["ann@example.com"], "password": "correct horse"}', id="email-list"
        ),
        pytest.param('{"email": "ann@example.com", "password": 12345678}', id="password-number"),
        pytest.param('{"email": null, "password": "correct horse"}', id="email-null"),
    ],
)
def test_a_json_body_without_both_string_fields_is_refused_with_400(client, body):
    response = client.post("/register", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_body"


def test_a_form_without_a_password_is_refused_with_400(client):
    response = client.post("/register", data={"email": "ann@example.com"})

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_body"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_a_body_that_is_neither_json_nor_a_form_is_refused_with_415(client, content_type):
    response = client.post(
        "/register", data="email=ann@example.com&password=correct+horse", content_type=content_type
    )

    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


def test_a_huge_body_is_refused_with_413_before_it_is_read(client):
    response = client.post(
        "/register", json={"email": "ann@example.com", "password": "x" * 100_000}
    )

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def test_the_password_is_stored_only_as_a_bcrypt_hash(accounts, query):
    accounts.register("ann@example.com", "correct horse")

    ((password_hash,),) = query(
        "SELECT password_hash FROM `user` WHERE email = %s", ("ann@example.com",)
    )

    assert password_hash.startswith("$2b$12$")
    assert "correct horse" not in password_hash
    assert query("SELECT id FROM `user` WHERE password_hash LIKE %s", ("%correct horse%",)) == ()


def test_sql_in_the_email_and_password_is_stored_as_plain_text(accounts, query):
    email, password = "o'brien--@example.com", "' OR 1=1 --"

    response = accounts.register(email, password)

    assert response.status_code == 201
    assert query("SELECT email FROM `user`") == ((email,),)
    assert accounts.login(email, password).status_code == 200
