"""Probes: GET /healthz (the process answers) and GET /readyz (it can reach MySQL)."""

from __future__ import annotations

from flask import Blueprint

from auth import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> dict:
    """Answer 200 while the process serves; MySQL is left out, as a restart would not fix it."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> dict:
    """Answer 200 when MySQL answers, else 503 through the DatabaseUnavailable error."""
    db.ping()
    return {"status": "ok"}
