"""Log lines as a service writes them (mp3common.logs), in a process of their own: plain text by
default, one JSON object a line with LOG_FORMAT=json, the correlation id on each."""
import json
import subprocess
import sys

import pytest

LOG_ONE_LINE = """
import logging
from mp3common import logs
logs.configure("converter", "INFO", sys.argv[1])
logs.correlation_id.set("req-42")
logging.getLogger("converter.worker").info("job %s done", "abc")
"""


def log_one_line(log_format):
    result = subprocess.run([sys.executable, "-c", "import sys\n" + LOG_ONE_LINE, log_format],
                            capture_output=True, text=True, check=True, timeout=30)
    [line] = result.stdout.splitlines()
    return line


def test_plain_lines_carry_the_service_and_the_correlation_id():
    line = log_one_line("plain")
    assert line.endswith(" INFO converter [req-42] converter.worker: job abc done")


def test_json_lines_carry_the_same_fields_under_the_names_log_collectors_expect():
    record = json.loads(log_one_line("json"))
    assert {key: record[key] for key in ("level", "service", "logger", "correlation_id", "message")} == {
        "level": "INFO", "service": "converter", "logger": "converter.worker", "correlation_id": "req-42",
        "message": "job abc done"}
    assert record["time"]


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_line_outside_any_request_or_job_says_so_with_a_dash(log_format):
    line = subprocess.run(
        [sys.executable, "-c", "import logging\nfrom mp3common import logs\n"
         f"logs.configure('auth', 'INFO', '{log_format}')\nlogging.getLogger('auth').warning('starting')"],
        capture_output=True, text=True, check=True, timeout=30).stdout
    assert "[-]" in line if log_format == "plain" else json.loads(line)["correlation_id"] == "-"
