"""The access line that gateway and auth write for each request, through gunicorn (`logger_class`).

One line per request, the same in both services:

    127.0.0.1 "GET /jobs/5f0c... HTTP/1.1" 200 312 3ms "curl/8.5.0" request_id=4b1d...

gunicorn's own logger builds its line from "atoms": a dict of every request header, every
response header and every WSGI environ variable, made for each request, whatever the format
shows. That dict was most of the access line's cost: the line was 11.7% of the gateway's profile
under GET /jobs/<id> (bench/results) with gunicorn's logger, and 5 to 7% with this one, which
builds only the fields above. It also leaves out the signature of a signed download link, which
would let anyone who reads the logs download that MP3.
"""
from __future__ import annotations

import re
import traceback

from gunicorn import glogging

from mp3common import links

# The value of the signature in a query string: `signature=<hex>` up to the next parameter.
SIGNATURE_VALUE = re.compile(rf"(?<=[?&]{links.SIGNATURE_PARAMETER}=)[^&]*")
REQUEST_ID_HEADER = "x-request-id"
# address "method target protocol" status bytes duration "user agent" request_id=id
LINE = '%s "%s %s %s" %s %s %dms "%s" request_id=%s'


class AccessLogger(glogging.Logger):
    """gunicorn's logger, with a lean access line carrying the request id as its correlation id."""

    def access(self, resp, req, environ, request_time):
        try:
            request_id = _request_id(resp)
            self.access_log.info(LINE, *_fields(resp, environ, request_time), request_id,
                                 extra={"correlation_id": request_id})
        except Exception:  # noqa: BLE001 - as in gunicorn's logger: a line that fails must not fail the request
            self.error(traceback.format_exc())


def _fields(resp, environ, request_time):
    """The line's fields before the request id."""
    target = environ["RAW_URI"]
    if links.SIGNATURE_PARAMETER in target:
        target = SIGNATURE_VALUE.sub("-", target)
    status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
    milliseconds = request_time.seconds * 1000 + request_time.microseconds // 1000
    return (environ.get("REMOTE_ADDR", "-"), environ["REQUEST_METHOD"], target, environ["SERVER_PROTOCOL"], status,
            "-" if resp.sent is None else resp.sent, milliseconds, environ.get("HTTP_USER_AGENT", "-"))


def _request_id(resp):
    # The id mp3common.web put on the response: the request's context has ended by now.
    return next((value for name, value in resp.headers if name.lower() == REQUEST_ID_HEADER), "-")
