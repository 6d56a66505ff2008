"""GET /openapi.json: the gateway's API described in OpenAPI 3, from the file beside this one.

The document is written by hand and kept with the code it describes; tests/gateway/test_openapi.py
runs schemathesis against a live gateway to prove the two agree.
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, Response

bp = Blueprint("openapi", __name__)

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI document, as stored."""
    return Response(_document(), mimetype="application/json")


@functools.cache
def _document() -> bytes:
    # Read on the first request and kept: the file only changes with a new release of the code.
    return DOCUMENT_PATH.read_bytes()
