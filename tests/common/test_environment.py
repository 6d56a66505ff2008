"""One reading of the variables every service shares: the same value means the same everywhere."""
import pytest

from converter.settings import Settings as ConverterSettings
from gateway.settings import Settings as GatewaySettings
from mp3common.environment import server_settings
from notification.settings import Settings as NotificationSettings


@pytest.fixture
def environ(tmp_path):
    secret = tmp_path / "download-link.key"
    secret.write_text("x" * 64)
    return {"DOWNLOAD_LINK_SECRET_FILE": str(secret), "UPLOAD_DIR": str(tmp_path), "WORK_DIR": str(tmp_path)}


@pytest.mark.parametrize("settings_class", [GatewaySettings, ConverterSettings, NotificationSettings])
@pytest.mark.parametrize("written", ["info", "INFO", " Info "])
def test_every_service_takes_a_log_level_in_any_case(environ, settings_class, written):
    assert settings_class.from_env({**environ, "LOG_LEVEL": written}).log_level == "INFO"


@pytest.mark.parametrize("settings_class", [GatewaySettings, ConverterSettings, NotificationSettings])
def test_every_service_refuses_an_unknown_log_level_naming_it(environ, settings_class):
    with pytest.raises(ValueError, match="LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'"):
        settings_class.from_env({**environ, "LOG_LEVEL": "loud"})


METRICS_DIR = {"PROMETHEUS_MULTIPROC_DIR": "/tmp/auth-metrics"}


def test_gunicorn_takes_the_same_log_level_and_its_port_or_bind():
    assert server_settings("AUTH_PORT", 8081, {"LOG_LEVEL": "debug", "AUTH_PORT": "9001", **METRICS_DIR}).bind \
        == "127.0.0.1:9001"
    assert server_settings("AUTH_PORT", 8081, {"LOG_LEVEL": "debug", **METRICS_DIR}).log_level == "DEBUG"
    assert server_settings("AUTH_PORT", 8081, {"GUNICORN_BIND": "0.0.0.0:8081", **METRICS_DIR}).bind == "0.0.0.0:8081"


def test_gunicorn_refuses_to_start_without_a_directory_for_its_workers_metrics():
    with pytest.raises(ValueError, match="PROMETHEUS_MULTIPROC_DIR must name a directory"):
        server_settings("GATEWAY_PORT", 8080, {})


@pytest.mark.parametrize("written, log_format", [(None, "plain"), ("json", "json")])
def test_gunicorn_takes_the_log_format(written, log_format):
    environ = {**METRICS_DIR, **({"LOG_FORMAT": written} if written else {})}
    assert server_settings("GATEWAY_PORT", 8080, environ).log_format == log_format


def test_an_unknown_log_format_is_refused_naming_it():
    with pytest.raises(ValueError, match="LOG_FORMAT must be one of plain, json, got 'xml'"):
        server_settings("GATEWAY_PORT", 8080, {**METRICS_DIR, "LOG_FORMAT": "xml"})
