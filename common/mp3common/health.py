"""A tiny HTTP listener for the workers' liveness and readiness probes (/healthz, /readyz) and
their Prometheus metrics (/metrics).

Workers have no web framework; the standard library's server on a daemon thread is enough for
three GET routes that Kubernetes, docker compose and Prometheus poll.
"""
import http.server
import json
import logging
import threading

from mp3common import metrics

logger = logging.getLogger(__name__)


def serve(port, is_ready, host="127.0.0.1"):
    """Answer /healthz with 200 while the process runs and /readyz with 200 when is_ready().

    ``is_ready()`` returns a dict of check name -> bool; any False makes /readyz answer 503.
    """

    class HealthHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/healthz":
                self._reply(200, {"status": "ok"})
            elif self.path == "/readyz":
                try:
                    checks = is_ready()
                except Exception:  # a probe must answer, not crash
                    logger.warning("readiness check raised", exc_info=True)
                    checks = {"checks": False}
                ready = all(checks.values())
                self._reply(200 if ready else 503, {"status": "ready" if ready else "not ready", "checks": checks})
            elif self.path == "/metrics":
                # A worker is one process: its default registry, process collector included.
                self._send(200, metrics.exposition(), metrics.CONTENT_TYPE)
            else:
                self._reply(404, {"error": {"code": "not_found",
                                            "message": "Only /healthz, /readyz and /metrics exist here."}})

        def _reply(self, status, body):
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status, payload, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format, *args):
            # Probes arrive every few seconds; logging each would drown the job logs.
            pass

    server = http.server.ThreadingHTTPServer((host, port), HealthHandler)
    thread = threading.Thread(target=server.serve_forever, name="health", daemon=True)
    thread.start()
    logger.info("probes on http://%s:%d/healthz and /readyz, metrics on /metrics", host, server.server_address[1])
    return server
