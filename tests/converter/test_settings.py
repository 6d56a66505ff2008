"""The converter's settings come from the environment, with defaults for development."""
from pathlib import Path

import pytest

from converter.settings import Settings, SettingsError


def test_defaults_suit_the_local_stack():
    settings = Settings.from_env({})

    assert settings.amqp_url == "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert settings.mongodb_uri == "mongodb://127.0.0.1:27017/"
    assert settings.max_deliveries == 3
    assert (settings.health_host, settings.health_port) == ("127.0.0.1", 8082)
    assert settings.work_dir.is_dir()
    assert settings.shutdown_grace_seconds == 25
    assert settings.mp3_retention_seconds == 7 * 24 * 3600
    assert (settings.sweep_interval_seconds, settings.sweep_grace_seconds) == (3600, 3600)
    assert settings.log_level == "INFO"


def test_values_are_read_and_converted(tmp_path):
    settings = Settings.from_env({
        "AMQP_URL": "amqp://u:p@rabbit:5672/x", "MONGODB_URI": "mongodb://mongo/", "MAX_DELIVERIES": "5",
        "HEALTH_HOST": "0.0.0.0", "HEALTH_PORT": "9000", "WORK_DIR": str(tmp_path),
        "SHUTDOWN_GRACE_SECONDS": "0", "MP3_RETENTION_SECONDS": "86400", "SWEEP_INTERVAL_SECONDS": "0",
        "SWEEP_GRACE_SECONDS": "600", "LOG_LEVEL": "debug",
    })

    assert settings.max_deliveries == 5
    assert (settings.health_host, settings.health_port) == ("0.0.0.0", 9000)
    assert settings.work_dir == Path(tmp_path)
    assert settings.shutdown_grace_seconds == 0
    assert settings.mp3_retention_seconds == 86400
    assert settings.sweep_interval_seconds == 0, "0 turns the converter's own sweep off"
    assert settings.sweep_grace_seconds == 600
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    "environ, named",
    [
        ({"MAX_DELIVERIES": "three"}, "MAX_DELIVERIES must be a whole number"),
        ({"MAX_DELIVERIES": "0"}, "MAX_DELIVERIES must be between 1 and 100"),
        ({"HEALTH_PORT": "70000"}, "HEALTH_PORT must be between 1 and 65535"),
        ({"SHUTDOWN_GRACE_SECONDS": "-1"}, "SHUTDOWN_GRACE_SECONDS must be between"),
        ({"WORK_DIR": "/does/not/exist"}, "WORK_DIR must be an existing directory"),
        ({"MP3_RETENTION_SECONDS": "a week"}, "MP3_RETENTION_SECONDS must be a whole number"),
        ({"SWEEP_INTERVAL_SECONDS": "-1"}, "SWEEP_INTERVAL_SECONDS must be between 0 and"),
        ({"SWEEP_GRACE_SECONDS": "0"}, "SWEEP_GRACE_SECONDS must be between 60 and"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_variable(environ, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(environ)


def test_every_wrong_value_is_named_at_once():
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"MAX_DELIVERIES": "x", "HEALTH_PORT": "y"})

    assert "MAX_DELIVERIES" in str(raised.value) and "HEALTH_PORT" in str(raised.value)
