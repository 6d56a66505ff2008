"""Probes, and the one JSON error shape for everything that goes wrong, expected or not."""
import logging

import pytest


def test_healthz_answers_while_the_process_runs(make_app, closed_port):
    # Liveness does not depend on anything else being up.
    client = make_app(AMQP_URL=f"amqp://guest:guest@127.0.0.1:{closed_port}/%2F").test_client()

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_is_200_when_mongodb_the_broker_and_auth_keys_are_reachable(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": {"mongodb": True, "broker": True, "jwks": True}}


@pytest.mark.parametrize(
    "variable, url, failing_check",
    [
        ("AMQP_URL", "amqp://guest:guest@127.0.0.1:{port}/%2F", "broker"),
        ("AUTH_URL", "http://127.0.0.1:{port}", "jwks"),
        ("MONGODB_URI", "mongodb://127.0.0.1:{port}/", "mongodb"),
    ],
)
def test_readyz_is_503_naming_the_dependency_that_is_down(make_app, closed_port, variable, url, failing_check):
    client = make_app(**{variable: url.format(port=closed_port)}).test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json["status"] == "not ready"
    assert {name for name, ok in response.json["checks"].items() if not ok} == {failing_check}


def test_a_wrong_method_is_405_json_with_allow(client):
    response = client.get("/upload")

    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "PUT"])
@pytest.mark.parametrize("path", ["/upload", "/jobs", "/login"])
def test_a_method_no_route_has_is_405_json_trace_and_options_included(client, method, path):
    response = client.open(path, method=method)

    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert response.json["error"]["code"] == "method_not_allowed"
    assert method not in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/healthz", "/admin", "/upload", "/openapi.json"])
def test_every_answer_tells_browsers_not_to_sniff_and_not_to_send_referrers(client, path):
    response = client.get(path)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_an_answer_to_a_request_with_credentials_is_not_stored_by_any_cache(client, user):
    listed = client.get("/jobs", headers=user.headers)
    refused = client.get("/jobs", headers={"Authorization": "Bearer not-a-token"})
    anonymous = client.get("/healthz")

    assert listed.status_code == 200 and listed.mimetype == "application/json"
    assert listed.headers["Cache-Control"] == "no-store"
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in anonymous.headers


def test_an_unknown_route_is_404_json(client):
    response = client.get("/admin")

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    assert response.headers["X-Request-ID"]


def test_an_unexpected_error_is_logged_with_its_trace_and_answered_500_without_it(make_app, caplog):
    app = make_app()

    @app.get("/broken")
    def broken():
        raise ZeroDivisionError("secret internals")

    response = app.test_client().get("/broken")

    assert response.status_code == 500
    assert response.json["error"] == {"code": "internal_error", "message": "An unexpected error occurred."}
    assert "secret internals" not in response.get_data(as_text=True)
    [record] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert record.exc_info[0] is ZeroDivisionError
