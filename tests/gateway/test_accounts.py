"""POST /register and POST /login reach auth through the gateway, and auth's answers come back as-is."""
import base64

from tests.gateway.conftest import LOGIN_EMAIL, LOGIN_PASSWORD, LOGIN_TOKEN, TAKEN_EMAIL


def basic(email, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{email}:{password}".encode()).decode()}


def test_login_returns_auths_bare_token(client):
    response = client.post("/login", headers=basic(LOGIN_EMAIL, LOGIN_PASSWORD))

    assert response.status_code == 200
    assert response.get_data(as_text=True) == LOGIN_TOKEN
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"


def test_login_with_wrong_credentials_passes_auths_401_through(client):
    response = client.post("/login", headers=basic(LOGIN_EMAIL, "wrong"))

    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_credentials"
    assert response.headers["WWW-Authenticate"] == 'Basic realm="mp3"'


def test_register_passes_the_body_and_auths_answer_through(client, auth_server):
    response = client.post("/register", json={"email": "new@example.com", "password": "long enough"},
                           headers={"X-Request-ID": "register-1"})

    assert response.status_code == 201
    assert response.json == {"id": 7, "email": "new@example.com"}
    assert auth_server.last_request_headers["Content-Type"] == "application/json"
    # The request id travels on to auth, so its log lines join the same story.
    assert auth_server.last_request_headers["X-Request-ID"] == "register-1"
    assert response.headers["X-Request-ID"] == "register-1"


def test_register_with_a_taken_email_passes_auths_409_through(client):
    response = client.post("/register", json={"email": TAKEN_EMAIL, "password": "long enough"})

    assert response.status_code == 409
    assert response.json["error"]["code"] == "email_taken"


def test_a_huge_register_body_is_refused_with_413_without_reaching_auth(client, auth_server):
    auth_server.last_request_headers = {}

    response = client.post("/register", data=b"x" * (65 * 1024), content_type="application/json")

    assert response.status_code == 413
    assert auth_server.last_request_headers == {}


def test_when_auth_is_down_login_answers_503(make_app, closed_port):
    client = make_app(AUTH_URL=f"http://127.0.0.1:{closed_port}").test_client()

    response = client.post("/login", headers=basic(LOGIN_EMAIL, LOGIN_PASSWORD))

    assert response.status_code == 503
    assert response.json["error"]["code"] == "auth_unavailable"
