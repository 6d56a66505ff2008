"""GET /download: an MP3, for its owner's bearer token or for a signed link."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from gateway import conversions, services, tokens
from mp3common import filenames, links

bp = Blueprint("downloads", __name__)


@bp.get("/download")
def download() -> Response:
    """Stream the MP3 named by `fid` to its owner, or to whoever holds a signed link to it."""
    fid = request.args.get("fid", "")
    if links.SIGNATURE_PARAMETER in request.args or "expires" in request.args:
        secret = current_app.config["SETTINGS"].download_link_secret
        links.verify(secret, fid, request.args.get("expires"), request.args.get(links.SIGNATURE_PARAMETER))
        stored = conversions.open_mp3(fid)
    else:
        stored = conversions.open_owned_mp3(tokens.current_user(), fid)
    return _mp3_response(stored)


def _mp3_response(stored) -> Response:
    # direct_passthrough: werkzeug hands our generator to the server untouched, chunk by chunk.
    # A few GridFS chunks at a time, so a large MP3 is never held in memory whole. The bucket is
    # looked up now: the generator runs after the request's context is gone.
    response = Response(services.mp3s().chunks(stored), mimetype="audio/mpeg", direct_passthrough=True)
    response.content_length = stored.length
    response.headers["Content-Disposition"] = filenames.content_disposition(filenames.mp3_name(stored.filename))
    # A user's file, possibly fetched with a bearer token: no shared cache may keep a copy.
    response.headers["Cache-Control"] = "private, no-store"
    # Runs when the response is done with, even if the client hung up before the first chunk.
    response.call_on_close(stored.close)
    return response
