"""GET /openapi.json describes the gateway as it really answers.

schemathesis reads the document, generates requests from it (valid ones and invalid ones) and
sends them to a gateway running under gunicorn in front of the real auth service, both as
processes on free ports. Every answer must be one the document describes, and none may be a 5xx.
"""
import os
import uuid

import MySQLdb
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import ServiceProcess, free_port, service_argv

# Small on purpose: the point is that the document and the code agree, which a few examples of
# each operation show; the whole run has to stay well under two minutes.
MAX_EXAMPLES = 10
# The rate-limit counters in MongoDB are shared with every other test run on this machine, and
# the gateway trusts one proxy here: X-Forwarded-For gives this run an address of its own.
CLIENT_ADDRESS = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
PASSWORD = "correct horse battery"
# Far above what schemathesis sends: throttling is tested elsewhere, not what this test is about.
UNTHROTTLED = {
    "LOGIN_RATE_LIMIT": "100000/60",
    "REGISTER_RATE_LIMIT": "100000/60",
    "UPLOAD_RATE_LIMIT": "100000/60",
    "MAX_LOGIN_FAILURES_PER_ACCOUNT": "100000",
    "MAX_LOGIN_FAILURES_PER_ADDRESS": "100000",
}


def test_the_document_is_served_and_describes_every_route_of_the_app(app, client):
    response = client.get("/openapi.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.json
    assert document["openapi"].startswith("3.")
    routes = {
        (rule.rule.replace("<", "{").replace(">", "}"), method.lower())
        for rule in app.url_map.iter_rules() if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    described = {
        (path, method)
        for path, operations in document["paths"].items()
        for method in operations if method != "parameters"
    }
    assert described == routes


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory, stack, gateway_amqp_url, mongo_uri, mysql_database, secrets_dir):
    """auth and the gateway under gunicorn, as `make run` starts them; yields the gateway's URL."""
    logs = tmp_path_factory.mktemp("openapi-logs")
    upload_dir = tmp_path_factory.mktemp("openapi-uploads")
    ports = {"auth": free_port(), "gateway": free_port()}
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "MYSQL_HOST": "127.0.0.1",
        "MYSQL_PORT": str(stack.mysql_port),
        "MYSQL_DATABASE": mysql_database,
        "JWT_PRIVATE_KEY_FILE": str(secrets_dir / "jwt-private.pem"),
        "AMQP_URL": gateway_amqp_url,
        "MONGODB_URI": mongo_uri,
        "AUTH_URL": f"http://127.0.0.1:{ports['auth']}",
        "DOWNLOAD_LINK_SECRET_FILE": str(secrets_dir / "download-link.key"),
        "UPLOAD_DIR": str(upload_dir),
        "TRUSTED_PROXY_COUNT": "1",
        **UNTHROTTLED,
    }
    services = [
        ServiceProcess(name=name, argv=service_argv(name, port),
                       env={**env, "PROMETHEUS_MULTIPROC_DIR": str(logs / f"{name}-metrics")},
                       health_url=f"http://127.0.0.1:{port}/healthz", log_path=logs / f"{name}.log")
        for name, port in ports.items()
    ]
    try:
        for service in services:
            service.start()
    except BaseException:
        for service in services:
            service.kill()
        raise
    yield f"http://127.0.0.1:{ports['gateway']}"
    for service in services:
        service.stop()


@pytest.fixture(scope="module")
def api_user(live_gateway, stack, mysql_database):
    """An account registered and logged in through the gateway: (email, bearer token)."""
    # A fresh database numbers its users from 1, as do the other tests' databases, and MongoDB
    # is shared with them: start from an id no one else uses, so that GET /jobs lists only ours.
    connection = MySQLdb.connect(host="127.0.0.1", port=stack.mysql_port, user="auth", password="auth",
                                 database=mysql_database)
    try:
        connection.cursor().execute(f"ALTER TABLE `user` AUTO_INCREMENT = {uuid.uuid4().int % 10**12 + 10**6}")
    finally:
        connection.close()
    email = f"openapi-{uuid.uuid4().hex[:12]}@example.com"
    headers = {"X-Forwarded-For": CLIENT_ADDRESS}
    registered = requests.post(f"{live_gateway}/register", json={"email": email, "password": PASSWORD},
                               headers=headers, timeout=10)
    assert registered.status_code == 201, registered.text
    login = requests.post(f"{live_gateway}/login", auth=(email, PASSWORD), headers=headers, timeout=10)
    assert login.status_code == 200, login.text
    return email, login.text


@pytest.fixture(scope="module")
def gateway_schema(live_gateway, api_user):
    """The document as the live gateway serves it, with a real token for the bearer operations."""
    email, token = api_user
    config = schemathesis.Config.from_dict({
        "base-url": live_gateway,
        "headers": {"X-Forwarded-For": CLIENT_ADDRESS},
        "auth": {"openapi": {
            "bearerAuth": {"bearer": token},
            "basicAuth": {"username": email, "password": PASSWORD},
        }},
        # Like most HTTP APIs, the gateway ignores query parameters and headers it does not
        # know (cache busters, tracing headers); sending one is not an error to flag.
        "generation": {"max-examples": MAX_EXAMPLES, "allow-extra-parameters": False},
        # Input the document calls valid that the gateway still refuses, by design, with an
        # answer the document describes. A schema cannot say "a video with sound", nor that a
        # multipart file part must carry a file name; auth's email rules are stricter than the
        # "email" format. Every other check, and every other operation, is left as it is.
        "operations": [
            {"include-path": "/upload", "checks": {"positive_data_acceptance": {
                "expected-statuses": ["2XX", 400, 401, 409, 422, 429]}}},
            {"include-path": "/register", "checks": {"positive_data_acceptance": {
                "expected-statuses": ["2XX", 400, 409, 429]}}},
        ],
    })
    return schemathesis.openapi.from_url(f"{live_gateway}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("gateway_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_one_the_document_describes(case):
    case.call_and_validate(timeout=30)
