"""The gateway's settings: read once from the environment, refused at start-up when wrong."""
import runpy
from pathlib import Path

import pytest

from gateway.settings import RateLimit, Settings, SettingsError

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gateway" / "gunicorn.conf.py"


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "download-link.key"
    path.write_text("ab" * 32 + "\n")
    return path


def test_defaults_describe_the_local_development_stack(secret_file):
    settings = Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(secret_file)})

    assert settings.environment == "development"
    assert settings.amqp_url == "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert settings.mongodb_uri == "mongodb://127.0.0.1:27017/"
    assert settings.jwks_url == "http://127.0.0.1:8081/.well-known/jwks.json"
    assert (settings.jwt_issuer, settings.jwt_audience) == ("mp3-auth", "mp3-gateway")
    assert settings.max_upload_bytes == 2147483648
    assert settings.max_deliveries == 3
    assert settings.upload_dir.is_dir()
    assert settings.login_rate_limit == RateLimit(requests=10, seconds=60)
    assert settings.register_rate_limit == RateLimit(requests=10, seconds=3600)
    assert settings.upload_rate_limit == RateLimit(requests=60, seconds=3600)
    assert settings.trusted_proxy_count == 0


def test_rate_limits_are_read_as_requests_per_seconds(secret_file):
    settings = Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(secret_file), "LOGIN_RATE_LIMIT": "5 / 30",
                                  "UPLOAD_RATE_LIMIT": "100/86400", "TRUSTED_PROXY_COUNT": "2"})

    assert settings.login_rate_limit == RateLimit(requests=5, seconds=30)
    assert str(settings.upload_rate_limit) == "100/86400"
    assert settings.trusted_proxy_count == 2


def test_the_secret_is_read_once_as_the_file_text_and_kept_out_of_repr(secret_file):
    settings = Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(secret_file)})

    assert settings.download_link_secret == b"ab" * 32
    assert "abab" not in repr(settings)
    assert "guest:guest" not in repr(settings)


def test_the_jwks_url_follows_auth_url_unless_set(secret_file):
    settings = Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(secret_file), "AUTH_URL": "http://auth:8081/"})

    assert settings.jwks_url == "http://auth:8081/.well-known/jwks.json"


def test_production_requires_the_download_link_secret_file_by_name(monkeypatch, tmp_path):
    # The development default path must not be picked up silently, even where it exists.
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".secrets").mkdir()
    (tmp_path / ".secrets" / "download-link.key").write_text("x" * 64)

    with pytest.raises(SettingsError, match="DOWNLOAD_LINK_SECRET_FILE is required when ENVIRONMENT=production"):
        Settings.from_env({"ENVIRONMENT": "production"})


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"DOWNLOAD_LINK_SECRET_FILE": "/nonexistent/download-link.key"},
         "DOWNLOAD_LINK_SECRET_FILE '/nonexistent/download-link.key' cannot be read"),
        ({"MAX_UPLOAD_BYTES": "2GB"}, "MAX_UPLOAD_BYTES must be a whole number"),
        ({"MAX_UPLOAD_BYTES": "0"}, "MAX_UPLOAD_BYTES must be between 1"),
        ({"MAX_DELIVERIES": "0"}, "MAX_DELIVERIES must be between 1 and 100"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT must be one of development, production"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be"),
        ({"UPLOAD_DIR": "/nonexistent/uploads"}, "UPLOAD_DIR '/nonexistent/uploads' is not an existing directory"),
        ({"LOGIN_RATE_LIMIT": "10 per minute"}, "LOGIN_RATE_LIMIT must be REQUESTS/SECONDS"),
        ({"REGISTER_RATE_LIMIT": "0/60"}, "REGISTER_RATE_LIMIT must be REQUESTS/SECONDS, both at least 1"),
        ({"UPLOAD_RATE_LIMIT": "10/0"}, "UPLOAD_RATE_LIMIT must be REQUESTS/SECONDS"),
        ({"TRUSTED_PROXY_COUNT": "-1"}, "TRUSTED_PROXY_COUNT must be between 0 and 5"),
        ({"TRUSTED_PROXY_COUNT": "9"}, "TRUSTED_PROXY_COUNT must be between 0 and 5"),
    ],
)
def test_a_wrong_value_stops_start_up_naming_the_variable(secret_file, changes, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(secret_file), **changes})


def test_a_short_download_link_secret_is_refused(tmp_path):
    short = tmp_path / "short.key"
    short.write_text("too-short")

    with pytest.raises(SettingsError, match="must hold at least 32 characters"):
        Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(short)})


GUNICORN_VARIABLES = ("GUNICORN_BIND", "GATEWAY_PORT", "GUNICORN_WORKERS", "GUNICORN_WORKER_CONNECTIONS")


def gunicorn_config(monkeypatch, environ):
    """gateway/gunicorn.conf.py's settings, read with these variables and none of the others it reads."""
    for name in GUNICORN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/gateway-metrics")
    return runpy.run_path(str(GUNICORN_CONF))


@pytest.mark.parametrize(
    "environ, bind",
    [
        ({}, "127.0.0.1:8080"),
        ({"GATEWAY_PORT": "9090"}, "127.0.0.1:9090"),
        ({"GUNICORN_BIND": "0.0.0.0:8080", "GATEWAY_PORT": "9090"}, "0.0.0.0:8080"),
    ],
)
def test_gunicorn_binds_loopback_unless_told_otherwise(monkeypatch, environ, bind):
    assert gunicorn_config(monkeypatch, environ)["bind"] == bind


@pytest.mark.parametrize("environ, workers, connections", [
    ({}, 2, 100),
    ({"GUNICORN_WORKERS": "3", "GUNICORN_WORKER_CONNECTIONS": "500"}, 3, 500),
])
def test_gunicorn_runs_gevent_workers_with_bounded_connections(monkeypatch, environ, workers, connections):
    config = gunicorn_config(monkeypatch, environ)

    assert (config["worker_class"], config["workers"], config["worker_connections"]) == ("gevent", workers, connections)


def test_gunicorn_refuses_a_connection_limit_that_is_not_a_positive_number(monkeypatch):
    with pytest.raises(ValueError, match="GUNICORN_WORKER_CONNECTIONS"):
        gunicorn_config(monkeypatch, {"GUNICORN_WORKER_CONNECTIONS": "0"})
