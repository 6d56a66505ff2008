"""The system under test: the four services started as real processes, as `make run` starts them.

Everything the bench starts is its own, so it can run beside the test suite on the same stack: a
fresh RabbitMQ vhost, a fresh MySQL database, fresh keys, an SMTP sink of its own writing to a
Maildir in a temporary directory, free loopback ports, and a MongoDB-protocol server of its own
(the stack's FerretDB build, or mongod where installed), because the services name their
databases themselves and FerretDB cannot delete a large blob quickly: a gigabyte the bench left
in the shared server would slow every test's GridFS query, since FerretDB scans a whole bucket
for each. `running()` undoes all of it however the bench ends, Ctrl-C included.

Given a MongoDB URI or an AMQP URL (`make bench MONGODB_URI=... AMQP_URL=...`), the bench uses
that server instead of its own MongoDB-protocol server or the stack's RabbitMQ with a vhost of
its own; what the server is (its name and version, as it says itself) goes into results.md.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil
import pymongo
import pymongo.errors

from auth import keygen
from bench.sampling import Component
from harness.processes import ServiceProcess
from harness.stack import REPO, Stack, free_port, fresh_auth_database, fresh_vhost
from harness.system import SERVICES, service_environment, service_process
from mp3common import broker, jobs, storage

logger = logging.getLogger(__name__)

FERRETDB = REPO / ".bin" / "ferretdb"
FERRETDB_GO_MOD = REPO / "tools" / "ferretdb" / "go.mod"
READY_TIMEOUT_SECONDS = 60
# The gateway with the metrics switched off (bench/gateway_without_metrics.py), for the cost of metrics.
GATEWAY_WITHOUT_METRICS_APP = "bench.gateway_without_metrics:app"
# Flask and pymongo with none of the gateway's code (bench/framework_floor.py), for what the frameworks cost.
FRAMEWORK_FLOOR_APP = "bench.framework_floor:app"
# Deleting a large video may scan a whole GridFS bucket in FerretDB; it must still end.
CLEAN_UP_QUERY_TIMEOUT_SECONDS = 900


def smtp_ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
            return connection.recv(3) == b"220"
    except OSError:
        return False


def mongo_ready(uri):
    try:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
        try:
            client.admin.command("ping")
        finally:
            client.close()
        return True
    except pymongo.errors.PyMongoError:
        return False


def mongo_process(work_dir, port):
    """The bench's own MongoDB-protocol server: mongod if installed, else the stack's FerretDB."""
    data_dir = work_dir / "mongo"
    data_dir.mkdir()
    if shutil.which("mongod"):
        argv = ["mongod", "--dbpath", str(data_dir), "--bind_ip", "127.0.0.1", "--port", str(port)]
    else:
        # Built by scripts/stack.sh start, which bench/run.sh runs first.
        argv = [str(FERRETDB), "-listen-addr", f"127.0.0.1:{port}", "-sqlite-dir", str(data_dir)]
    uri = f"mongodb://127.0.0.1:{port}/"
    return ServiceProcess(name="mongo", argv=argv, env=dict(os.environ), is_ready=lambda: mongo_ready(uri),
                          log_path=work_dir / "logs" / "mongo.log")


def describe_mongo(uri):
    """The server's name and version, from its buildInfo: FerretDB says which it is beside the
    MongoDB version it answers as."""
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000)
    try:
        info = client.admin.command("buildInfo")
    finally:
        client.close()
    if "ferretdbVersion" in info:
        version = info["ferretdbVersion"]
        if version == "unknown":
            # The stack's FerretDB, built from Go modules, lacks the version file FerretDB's own
            # build embeds; tools/ferretdb/go.mod names the version built.
            version = f"{ferretdb_module_version()} (tools/ferretdb/go.mod; the binary says \"unknown\")"
        return f"FerretDB {version}, answering as MongoDB {info['version']}"
    return f"MongoDB {info['version']}"


def ferretdb_module_version():
    """The FerretDB version tools/ferretdb builds, from its go.mod's require line."""
    found = re.search(r"^require github\.com/FerretDB/FerretDB (\S+)", FERRETDB_GO_MOD.read_text(), re.MULTILINE)
    return found.group(1) if found else "unknown"


def describe_broker(amqp_url):
    """The broker's product and version, as it announces them when a client connects."""
    connection = broker.connect(amqp_url)
    try:
        properties = connection._impl.server_properties  # pika keeps Connection.Start's fields here
    finally:
        connection.close()

    def text(value):
        return value.decode() if isinstance(value, bytes) else str(value)

    return f"{text(properties.get('product', 'unknown broker'))} {text(properties.get('version', ''))}".strip()


@dataclass
class System:
    """The running system: where its services listen, and the handles to stop them."""

    stack: Stack
    # The bench's own MongoDB-protocol server; None when it runs against a server it was given.
    mongo: ServiceProcess | None
    mongo_uri: str
    mongo_server: str  # what the server says it is (describe_mongo)
    broker_server: str  # the same of the broker (describe_broker)
    stack_broker: bool  # the stack's RabbitMQ (with a vhost of the bench's own), not a broker given
    work_dir: Path
    amqp_url: str
    env: dict
    gateway_url: str
    mail_dir: Path
    services: dict
    converters: list

    @property
    def gateway(self):
        return self.services["gateway"]

    def gateway_workers(self, gateway=None):
        """The pids of gunicorn's workers (the master's children), not the master itself."""
        try:
            return [child.pid for child in psutil.Process((gateway or self.gateway).pid).children()]
        except psutil.NoSuchProcess:
            return []

    def add_converter(self):
        """Start one more converter process, consuming the same queue; return it once ready."""
        number = len(self.converters) + 1
        converter = service_process(f"converter-{number}", free_port(), self.env, self.work_dir / "logs",
                                    module="converter", ready_path="/readyz")
        self.services[converter.name] = converter
        self.converters.append(converter)
        converter.start(wait=False).wait_healthy(READY_TIMEOUT_SECONDS)
        return converter

    def remove_converter(self, converter):
        converter.stop()
        self.converters.remove(converter)
        del self.services[converter.name]

    def purge_video_queue(self):
        """Drop the conversions still waiting in the bench vhost's `video` queue; return how many."""
        connection = broker.connect(self.amqp_url)
        try:
            return connection.channel().queue_purge("video").method.message_count
        finally:
            connection.close()

    def cpu_components(self, gateway=None):
        """What the CPU account of a run is split into (pids, each with whether its live
        descendants count), in the order results.md lists them; the gateway is ``gateway`` if
        given (one of another_gateway's)."""
        gateway = gateway or self.gateway

        def pids(*values, deep=False):
            return [(value, deep) for value in values if value]

        return [
            Component("gateway", "gateway (master and workers)",
                      lambda: pids(gateway.pid, *self.gateway_workers(gateway))),
            Component("converters", "converters (with ffmpeg)",
                      lambda: pids(*(converter.pid for converter in self.converters))),
            Component("notification", "notification", lambda: pids(self.services["notification"].pid)),
            Component("mongo", self._label("MongoDB-protocol server", "the bench's own", self.mongo),
                      lambda: pids(self.mongo_pid, deep=True)),
            # The stack's broker also serves everyone else's tests on this machine.
            Component("rabbitmq", self._label("RabbitMQ", "shared", self.broker_pid),
                      lambda: pids(self.broker_pid, deep=True)),
            # The bench's clients, and wrk once it has exited (a reaped child).
            Component("bench", "bench (clients, wrk)", lambda: pids(os.getpid())),
        ]

    @property
    def mongo_pid(self):
        """The MongoDB-protocol server's pid; None for a server the bench was given."""
        return self.mongo.pid if self.mongo is not None else None

    @property
    def broker_pid(self):
        """The stack's RabbitMQ's pid; None for a broker the bench was given."""
        return self.stack.server_pid("rabbitmq") if self.stack_broker else None

    @staticmethod
    def _label(server, whose, local):
        # A server the bench was given may be in a container or on another machine: its CPU is not seen.
        return f"{server} ({whose})" if local else f"{server} (given: not counted)"

    @contextlib.contextmanager
    def another_gateway(self, name, app):
        """A second gateway serving ``app`` (bench/gateway_without_metrics.py, bench/framework_floor.py)
        with the same gunicorn command and config, started as the first one is; yield it, stop it on exit."""
        port = free_port()
        gateway = service_process(name, port, self.env, self.work_dir / "logs", module="gateway",
                                  ready_path="/readyz")
        # The same gunicorn command and config (harness.system.service_argv), another app: its last argument.
        gateway = dataclasses.replace(gateway, argv=[*gateway.argv[:-1], app])
        try:
            gateway.start(wait=False).wait_healthy(READY_TIMEOUT_SECONDS)
            yield gateway
        finally:
            gateway.stop()

    def delete_jobs(self, job_ids):
        """Remove jobs with their videos and MP3s, one query per collection: FerretDB can use no
        index but `_id`, so each GridFS delete scans every chunk of its bucket."""
        client = pymongo.MongoClient(self.mongo_uri, serverSelectionTimeoutMS=30_000,
                                     socketTimeoutMS=CLEAN_UP_QUERY_TIMEOUT_SECONDS * 1000)
        try:
            jobs_collection = client[jobs.JOBS_DB]["jobs"]
            found = list(jobs_collection.find({"_id": {"$in": job_ids}}, {"video_fid": 1, "mp3_fid": 1}))
            for database, field in ((storage.VIDEOS_DB, "video_fid"), (storage.MP3S_DB, "mp3_fid")):
                fids = [storage.parse_fid(job[field]) for job in found if job.get(field)]
                if fids:
                    client[database]["fs.chunks"].delete_many({"files_id": {"$in": fids}})
                    client[database]["fs.files"].delete_many({"_id": {"$in": fids}})
            jobs_collection.delete_many({"_id": {"$in": job_ids}})
        finally:
            client.close()

    def dead_letter_count(self):
        """Messages in the bench vhost's dead-letter queues: work a converter or the notification
        service gave up on."""
        connection = broker.connect(self.amqp_url)
        try:
            channel = connection.channel()
            return sum(channel.queue_declare(queue, passive=True).method.message_count
                       for queue in ("video.dead", "mp3.dead"))
        finally:
            connection.close()


@contextlib.contextmanager
def running(stack: Stack, work_dir: Path, *, mongo_uri: str | None = None, amqp_url: str | None = None):
    """Start the system in ``work_dir`` and yield it; stop it and remove what it made on exit.

    With ``mongo_uri`` or ``amqp_url`` the services use that server instead of the bench's own
    MongoDB-protocol server or a vhost of its own on the stack's RabbitMQ.
    """
    # The whole Maildir layout: Python's mailbox.Maildir makes tmp/new/cur only when the
    # directory itself is missing, and the SMTP sink's delivery needs tmp/.
    for name in ("logs", "secrets", "mail/tmp", "mail/new", "mail/cur", "tmp"):
        (work_dir / name).mkdir(parents=True, exist_ok=True)
    # Undone newest first, each step whatever the others did, however the bench ends.
    with contextlib.ExitStack() as cleanups:
        stack_broker = amqp_url is None
        if stack_broker:
            amqp_url = cleanups.enter_context(fresh_vhost(stack, "bench"))
        database = cleanups.enter_context(fresh_auth_database(stack, "auth_bench"))
        keygen.write_missing(work_dir / "secrets")

        ports = {name: free_port() for name in (*SERVICES, "smtp", "mongo")}
        mongo = None
        if mongo_uri is None:
            mongo_uri = f"mongodb://127.0.0.1:{ports['mongo']}/"
            mongo = mongo_process(work_dir, ports["mongo"])
            cleanups.callback(_quietly, mongo.stop)
            # First and alone: the services' readiness checks need it.
            mongo.start(wait=False).wait_healthy(READY_TIMEOUT_SECONDS)
        # Said in results.md, so a run against another server (or a stray URL) shows at once.
        mongo_server = describe_mongo(mongo_uri) + (", the bench's own" if mongo else ", given")
        broker_server = describe_broker(amqp_url) + (", the stack's, a vhost of its own" if stack_broker else ", given")
        env = service_environment(
            amqp_url=amqp_url, mongo_uri=mongo_uri, mysql_port=stack.mysql_port, mysql_database=database,
            secrets_dir=work_dir / "secrets", smtp_port=ports["smtp"], ports=ports,
            LOG_LEVEL="INFO", UPLOAD_DIR=str(work_dir / "tmp"), WORK_DIR=str(work_dir / "tmp"),
            # The converter's periodic sweep would sweep the MongoDB every test on this stack
            # shares, and add work to the figures that no upload caused.
            SWEEP_INTERVAL_SECONDS="0",
        )
        services = {
            "smtp": ServiceProcess(
                name="smtp",
                # -n: as root aiosmtpd would switch to "nobody", who cannot write the Maildir.
                argv=[sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{ports['smtp']}",
                      "-c", "aiosmtpd.handlers.Mailbox", str(work_dir / "mail")],
                env=env, is_ready=lambda: smtp_ready(ports["smtp"]), log_path=work_dir / "logs" / "smtp.log",
            ),
            **{name: service_process(name, ports[name], env, work_dir / "logs", ready_path="/readyz")
               for name in SERVICES},
        }
        cleanups.callback(stop_all, services)
        for service in services.values():
            service.start(wait=False)
        for service in services.values():
            service.wait_healthy(READY_TIMEOUT_SECONDS)
        yield System(stack=stack, mongo=mongo, mongo_uri=mongo_uri, mongo_server=mongo_server,
                     broker_server=broker_server, stack_broker=stack_broker, work_dir=work_dir,
                     amqp_url=env["AMQP_URL"], env=env, gateway_url=f"http://127.0.0.1:{ports['gateway']}",
                     mail_dir=work_dir / "mail", services=services, converters=[services["converter"]])


def stop_all(services):
    """SIGTERM every service at once, then wait for each (bounded), so they drain side by side."""
    for service in services.values():
        _quietly(service.terminate)
    for service in services.values():
        _quietly(service.stop)


def _quietly(step):
    try:
        step()
    except Exception:  # one failed clean-up step must not skip the others
        logger.warning("clean-up step failed", exc_info=True)
