"""The auth service: accounts in MySQL, EdDSA-signed JWTs, and the JWKS to verify them."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from auth import accounts, db, errors, health, keys, tokens
from auth.settings import Settings
from mp3common import metrics

# Register and login bodies are a few hundred bytes; refuse anything far larger with a 413.
MAX_CONTENT_LENGTH = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the auth application; settings come from the environment unless given."""
    if settings is None:
        settings = Settings.from_env()
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    if settings.trusted_proxy_count:
        # auth is reached through the gateway, which puts the client's address in
        # X-Forwarded-For; failed logins are counted per that address. Only the entries the
        # trusted proxies appended are believed: anything further left, a client could write.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_count)

    db.init_app(app)
    tokens.init_app(app)
    # Before the blueprints: it decides which methods their routes answer (see mp3common.web).
    errors.init_app(app)
    metrics.instrument_flask(app, settings.prometheus_multiproc_dir)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(keys.bp)
    app.register_blueprint(health.bp)
    return app
