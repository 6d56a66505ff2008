"""The notification service's settings come from the environment; secrets are never guessed."""
import pytest

from notification.settings import Settings, SettingsError


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "download-link.key"
    path.write_text("  " + "ab" * 32 + "\n")
    return path


def test_defaults_suit_the_local_stack(secret_file):
    settings = Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(secret_file)})

    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == ("127.0.0.1", 1025, "none")
    assert (settings.smtp_user, settings.smtp_password) == (None, None)
    assert settings.smtp_timeout_seconds == 10
    assert settings.smtp_outage_tolerance_seconds == 600
    assert settings.mail_from == "MP3 Converter <noreply@localhost>"
    assert settings.public_base_url == "http://localhost:8080"
    assert settings.download_link_ttl_seconds == 604800
    assert (settings.health_host, settings.health_port) == ("127.0.0.1", 8083)
    assert settings.max_deliveries == 3
    assert settings.environment == "development"


def test_the_secret_is_read_once_without_surrounding_whitespace_and_kept_out_of_repr(secret_file):
    settings = Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(secret_file), "SMTP_USER": "mailer",
                                  "SMTP_PASSWORD": "hunter2-password"})

    assert settings.download_link_secret == b"ab" * 32
    assert "abab" not in repr(settings)
    assert "hunter2" not in repr(settings)


def test_production_requires_the_secret_file_to_be_named():
    with pytest.raises(SettingsError, match="DOWNLOAD_LINK_SECRET_FILE is required when ENVIRONMENT=production"):
        Settings.from_env({"ENVIRONMENT": "production"})


def test_production_starts_with_an_explicit_secret_file(secret_file):
    settings = Settings.from_env({"ENVIRONMENT": "production", "DOWNLOAD_LINK_SECRET_FILE": str(secret_file)})

    assert settings.environment == "production"


@pytest.mark.parametrize(
    "environ, named",
    [
        ({"SMTP_USER": "mailer"}, "SMTP_USER and SMTP_PASSWORD must be set together"),
        ({"SMTP_PASSWORD": "secret"}, "SMTP_USER and SMTP_PASSWORD must be set together"),
        ({"SMTP_SECURITY": "ssl"}, "SMTP_SECURITY must be one of none, starttls, tls"),
        ({"SMTP_PORT": "smtp"}, "SMTP_PORT must be a whole number"),
        ({"SMTP_TIMEOUT_SECONDS": "0"}, "SMTP_TIMEOUT_SECONDS must be between"),
        ({"SMTP_OUTAGE_TOLERANCE_SECONDS": "7200"}, "SMTP_OUTAGE_TOLERANCE_SECONDS must be between"),
        ({"PUBLIC_BASE_URL": "localhost:8080"}, "PUBLIC_BASE_URL must start with http:// or https://"),
        ({"DOWNLOAD_LINK_TTL_SECONDS": "a week"}, "DOWNLOAD_LINK_TTL_SECONDS must be a whole number"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT must be one of development, production"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_variable(secret_file, environ, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(secret_file), **environ})


def test_a_missing_secret_file_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="DOWNLOAD_LINK_SECRET_FILE .* cannot be read"):
        Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(tmp_path / "absent.key")})


def test_a_short_secret_is_refused(tmp_path):
    short = tmp_path / "short.key"
    short.write_text("abc\n")

    with pytest.raises(SettingsError, match="must hold at least 32 characters"):
        Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(short)})


def test_the_trailing_slash_of_the_public_url_is_dropped(secret_file):
    settings = Settings.from_env({"DOWNLOAD_LINK_SECRET_FILE": str(secret_file),
                                  "PUBLIC_BASE_URL": "https://mp3.example.com/"})

    assert settings.public_base_url == "https://mp3.example.com"
