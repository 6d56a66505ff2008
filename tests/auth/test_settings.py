"""Settings: read once from the environment, typed, and strict in production."""

from pathlib import Path

import pytest

from auth.settings import Settings, SettingsError

PRODUCTION = {
    "ENVIRONMENT": "production",
    "MYSQL_PASSWORD": "a-real-password",
    "JWT_PRIVATE_KEY_FILE": "/run/secrets/jwt-private.pem",
}


def test_development_defaults_need_no_environment():
    settings = Settings.from_env({})

    assert settings.environment == "development"
    assert (settings.mysql_host, settings.mysql_port) == ("127.0.0.1", 3306)
    assert (settings.mysql_user, settings.mysql_password, settings.mysql_database) == (
        "auth",
        "auth",
        "auth",
    )
    assert settings.jwt_private_key_file == Path(".secrets/jwt-private.pem")
    assert settings.jwt_previous_public_key_files == ()
    assert (settings.jwt_issuer, settings.jwt_audience) == ("mp3-auth", "mp3-gateway")
    assert settings.jwt_ttl_seconds == 3600
    assert settings.login_failure_window_seconds == 900
    assert settings.max_login_failures_per_account == 5
    assert settings.max_login_failures_per_address == 20
    assert settings.trusted_proxy_count == 1


def test_values_are_converted_to_their_types():
    settings = Settings.from_env(
        {
            "MYSQL_PORT": "3307",
            "JWT_TTL_SECONDS": "600",
            "JWT_PREVIOUS_PUBLIC_KEY_FILES": " old-1.pem, ,old-2.pem ",
        }
    )

    assert settings.mysql_port == 3307
    assert settings.jwt_ttl_seconds == 600
    assert settings.jwt_previous_public_key_files == (Path("old-1.pem"), Path("old-2.pem"))


def test_production_with_every_secret_set_starts():
    settings = Settings.from_env(PRODUCTION)

    assert settings.environment == "production"
    assert settings.mysql_password == "a-real-password"


@pytest.mark.parametrize("missing", ["MYSQL_PASSWORD", "JWT_PRIVATE_KEY_FILE"])
@pytest.mark.parametrize("unset_as", ["absent", "empty"])
def test_production_names_a_missing_secret(missing, unset_as):
    environ = dict(PRODUCTION)
    if unset_as == "absent":
        del environ[missing]
    else:
        environ[missing] = ""

    with pytest.raises(SettingsError, match=f"{missing} is required"):
        Settings.from_env(environ)


def test_production_names_every_missing_secret_at_once():
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"ENVIRONMENT": "production"})

    assert "MYSQL_PASSWORD" in str(raised.value)
    assert "JWT_PRIVATE_KEY_FILE" in str(raised.value)


def test_production_refuses_the_development_placeholder_password():
    with pytest.raises(SettingsError, match="MYSQL_PASSWORD is the development placeholder"):
        Settings.from_env({**PRODUCTION, "MYSQL_PASSWORD": "auth"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENVIRONMENT", "staging"),
        ("MYSQL_PORT", "three"),
        ("MYSQL_PORT", "70000"),
        ("JWT_TTL_SECONDS", "1.5"),
        ("JWT_TTL_SECONDS", "0"),
        ("LOGIN_FAILURE_WINDOW_SECONDS", "0"),
        ("MAX_LOGIN_FAILURES_PER_ACCOUNT", "five"),
        ("MAX_LOGIN_FAILURES_PER_ADDRESS", "0"),
        ("TRUSTED_PROXY_COUNT", "6"),
    ],
)
def test_a_malformed_value_is_refused_naming_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
