"""The gateway with its metrics switched off, for the bench alone: what the metrics cost is the
difference between this and gateway/wsgi.py under the same load and the same gunicorn config
(`gunicorn -c gateway/gunicorn.conf.py bench.gateway_without_metrics:app`, bench/system.py).

The product has no switch for it, and should not: the gateway is built as gateway.create_app()
builds it, with mp3common.metrics.instrument_flask (the request counters, the latency histogram
and GET /metrics) replaced by a function that does nothing.
"""
from gateway import create_app
from mp3common import metrics


def _no_metrics(app, multiprocess_dir=None):
    """instrument_flask's place, doing nothing."""


# Before the app is built: create_app() looks the function up on the module when it calls it.
metrics.instrument_flask = _no_metrics
app = create_app()
# Were the metrics wired another way, this would measure metrics against metrics: say so instead.
if any(rule.rule == "/metrics" for rule in app.url_map.iter_rules()):
    raise RuntimeError("GET /metrics is still served: the gateway no longer adds its metrics through "
                       "mp3common.metrics.instrument_flask; update bench/gateway_without_metrics.py")
