"""The gateway: the one public HTTP service. Accounts (through auth), uploads, jobs and downloads."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway import accounts, downloads, errors, health, jobs, openapi, page, services, uploads
from gateway.settings import Settings
from gateway.spooling import SpoolingRequest
from mp3common import logs, metrics


def create_app(settings: Settings | None = None) -> Flask:
    """Build the gateway application; settings come from the environment unless given.

    Nothing connects here: MongoDB, the broker and auth's keys are reached on first use, in the
    worker process that needs them (see services.py).
    """
    if settings is None:
        # Started for real (wsgi.py): configure logging once, for this process. Tests pass their
        # own settings and keep pytest's log capture.
        settings = Settings.from_env()
        logs.configure("gateway", settings.log_level, settings.log_format)
    # The web page's files (gateway/web) are the app's static files; see page.py.
    app = Flask(__name__, static_folder=page.WEB_DIR, static_url_path=page.STATIC_URL_PATH)
    app.request_class = SpoolingRequest
    app.config["SETTINGS"] = settings
    # werkzeug refuses a larger body with 413; a declared Content-Length is refused before reading.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    if settings.trusted_proxy_count:
        # Behind N trusted proxies, the client's address is the Nth from the right of
        # X-Forwarded-For: what the nearest proxy saw. Anything further left, the client could
        # have written itself. Without proxies the header is ignored: request.remote_addr is the
        # peer, the only address that cannot be forged (the rate limits are keyed on it).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_count)

    services.init_app(app, settings)
    # Before the blueprints: it decides which methods their routes answer (see mp3common.web).
    errors.init_app(app)
    metrics.instrument_flask(app, settings.prometheus_multiproc_dir)
    for blueprint in (page.bp, accounts.bp, uploads.bp, downloads.bp, jobs.bp, health.bp, openapi.bp):
        app.register_blueprint(blueprint)
    return app
