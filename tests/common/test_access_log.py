"""The access line gateway and auth write through gunicorn (mp3common.access_log), on gunicorn's
own config object; the services' logs are tested end to end in tests/e2e and tests/auth."""
import datetime
import logging
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from mp3common.access_log import AccessLogger


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def access_records():
    """The records AccessLogger writes to gunicorn.access, with a fresh logger for each test."""
    logger = AccessLogger(Config())
    records = Records()
    logger.access_log.addHandler(records)
    try:
        yield logger, records.records
    finally:
        logger.access_log.removeHandler(records)


def write_line(logger, target, *, status="200 OK", sent=312, headers=(("X-Request-ID", "req-1"),)):
    response = SimpleNamespace(status=status, sent=sent, headers=list(headers))
    environ = {"RAW_URI": target, "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.7",
               "HTTP_USER_AGENT": "curl/8.5.0"}
    logger.access(response, None, environ, datetime.timedelta(milliseconds=42))


def test_the_line_has_the_request_and_its_answer_and_the_request_id_as_correlation_id(access_records):
    logger, records = access_records

    write_line(logger, "/jobs/abc?limit=5")

    [record] = records
    assert record.getMessage() == '10.0.0.7 "GET /jobs/abc?limit=5 HTTP/1.1" 200 312 42ms "curl/8.5.0" request_id=req-1'
    assert record.correlation_id == "req-1"


@pytest.mark.parametrize("target, shown", [
    ("/download?fid=f1&expires=9&signature=0a1b2c", "/download?fid=f1&expires=9&signature=-"),
    ("/download?signature=0a1b2c&fid=f1", "/download?signature=-&fid=f1"),
    # Only the parameter of that name: another that ends the same way is kept.
    ("/download?fid=f1&mysignature=0a1b2c", "/download?fid=f1&mysignature=0a1b2c"),
])
def test_a_signed_links_signature_is_left_out_wherever_it_stands(access_records, target, shown):
    logger, records = access_records

    write_line(logger, target)

    assert f'"GET {shown} HTTP/1.1"' in records[0].getMessage()


def test_an_answer_without_a_body_or_a_request_id_still_gets_its_line(access_records):
    logger, records = access_records

    write_line(logger, "/healthz", status="204 No Content", sent=None, headers=())

    assert records[0].getMessage().endswith('"GET /healthz HTTP/1.1" 204 - 42ms "curl/8.5.0" request_id=-')
    assert records[0].correlation_id == "-"
