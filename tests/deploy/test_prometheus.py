"""The Prometheus files in deploy/, checked with promtool (Debian's prometheus package, installed
by scripts/promtool.sh): the alerting rules load and pass their unit tests, the compose profile's
configuration loads, and every PromQL expression of the Grafana dashboard parses."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "mp3-converter.json"


def promtool(*args, cwd=PROMETHEUS):
    executable = shutil.which("promtool")
    assert executable, "promtool is missing: run scripts/promtool.sh (as root), as `make test` does"
    result = subprocess.run([executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def dashboard_expressions():
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_alerting_rules_load():
    assert "SUCCESS: 6 rules found" in promtool("check", "rules", "alerts.yml")


def test_the_alerting_rules_pass_their_unit_tests():
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yml")


def test_the_compose_profiles_prometheus_configuration_loads():
    promtool("check", "config", "prometheus.yml")


def test_every_dashboard_panel_has_a_query():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"]
    assert all(panel["targets"] and all(target["expr"].strip() for target in panel["targets"])
               for panel in dashboard["panels"])


def test_every_dashboard_expression_parses(tmp_path):
    # promtool parses a rule's expression as Prometheus would: one recording rule per query.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{n}", "expr": expr} for n, (_, expr) in enumerate(dashboard_expressions())]}]}
    rules_file = tmp_path / "dashboard-rules.yml"
    rules_file.write_text(json.dumps(rules))  # JSON is YAML
    assert f"SUCCESS: {len(dashboard_expressions())} rules found" in promtool("check", "rules", str(rules_file))


@pytest.mark.parametrize("expr", ["sum(rate(mp3_uploads_accepted_total[5m])", "histogram_quantile(0.5, )"])
def test_a_broken_expression_is_caught_by_the_same_check(tmp_path, expr):
    rules_file = tmp_path / "broken.yml"
    rules_file.write_text(json.dumps({"groups": [{"name": "broken", "rules": [{"record": "broken", "expr": expr}]}]}))
    result = subprocess.run([shutil.which("promtool"), "check", "rules", str(rules_file)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
