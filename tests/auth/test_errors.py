"""Every failure is answered as `{"error": {"code", "message"}}`, and a crash reveals nothing."""

import logging

import pytest


def test_an_unknown_path_is_answered_404_as_json(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert error["message"]


def test_a_crash_is_logged_with_its_trace_and_answered_with_a_generic_500(app, caplog):
    @app.get("/crash")
    def crash():
        raise RuntimeError("secret internal detail")

    with caplog.at_level(logging.ERROR, logger="auth.errors"):
        response = app.test_client().get("/crash")

    assert response.status_code == 500
    assert response.get_json() == {
        "error": {"code": "internal_error", "message": "An unexpected error occurred."}
    }
    assert b"secret internal detail" not in response.data
    (record,) = caplog.records
    assert "GET /crash" in record.getMessage()
    assert record.exc_info[0] is RuntimeError


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "DELETE"])
def test_a_method_no_route_has_is_405_json_trace_and_options_included(client, method):
    response = client.open("/login", method=method)

    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"


def test_every_answer_carries_the_security_headers_and_a_login_is_not_cached(client):
    refused_login = client.post("/login", headers={"Authorization": "Basic bm86Ym9keQ=="})
    health = client.get("/healthz")

    for response in (refused_login, health):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert refused_login.headers["Cache-Control"] == "no-store"
