"""The auth service: accounts in MySQL, EdDSA-signed JWTs, and the JWKS to verify them."""

from __future__ import annotations

from flask import Flask

from auth import accounts, db, errors, health, keys, tokens
from auth.settings import Settings

# Register and login bodies are a few hundred bytes; refuse anything far larger with a 413.
MAX_CONTENT_LENGTH = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the auth application; settings come from the environment unless given."""
    if settings is None:
        settings = Settings.from_env()
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH

    db.init_app(app)
    tokens.init_app(app)
    errors.init_app(app)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(keys.bp)
    app.register_blueprint(health.bp)
    return app
