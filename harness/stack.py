"""The local stack: RabbitMQ, MariaDB, a MongoDB-protocol server (mongod if installed, else FerretDB)
and an SMTP sink, supervised by supervisord; and what the tests and the bench use of it: where its
servers listen, their pids, and a RabbitMQ vhost or an auth database of a run's own.

`scripts/stack.sh` installs what the servers need (Debian packages, the venv, FerretDB) and then
runs this module: `python -m harness.stack start|stop [SERVER...]`, `status`, `env`,
`rabbitmqctl ARGS...`, `mysql ARGS...`. supervisord starts, signals and reaps the servers; what
is left here is what it cannot know: each server's files and command line, when a server is
ready, and MariaDB's schema. Everything lives under <repo>/.stack, so `rm -rf .stack` is a
full reset, and every server listens on 127.0.0.1 only.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import shlex
import shutil
import smtplib
import socket
import subprocess
import sys
import time
import uuid
import xmlrpc.client
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import MySQLdb
import MySQLdb.constants.CLIENT
import pika
import pika.exceptions
import pymongo
import pymongo.errors
from supervisor.xmlrpc import Faults, SupervisorTransport

REPO = Path(__file__).resolve().parents[1]
STACK_SCRIPT = REPO / "scripts" / "stack.sh"
STACK_DIR = REPO / ".stack"
# supervisord and the SMTP sink run from the venv (scripts/venv.sh), which exists before the stack.
VENV_BIN = REPO / ".venv" / "bin"
SERVERS = ("rabbitmq", "mysql", "mongo", "smtp")

SUPERVISORD_CONFIG = STACK_DIR / "supervisord.conf"
SUPERVISORD_PID_FILE = STACK_DIR / "supervisord.pid"
# A unix socket, never a TCP port: only this machine's root (mode 0700) can control the stack.
SUPERVISOR_SOCKET = STACK_DIR / "supervisor.sock"
# SIGTERM is a clean shutdown for all four servers; supervisord sends SIGKILL after this long.
STOP_TIMEOUT_SECONDS = 60

# The Debian wrapper /usr/sbin/rabbitmq-server switches to the rabbitmq user (`su rabbitmq`),
# which could not write to .stack; the scripts it wraps run as whoever calls them.
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
MYSQL_DIR = STACK_DIR / "mysql"
MYSQL_SOCKET = MYSQL_DIR / "mysqld.sock"
# Written only once mysql-init/ has been applied: without it the data directory is half-made.
MYSQL_INITIALISED = MYSQL_DIR / "initialised"
FERRETDB_BIN = REPO / ".bin" / "ferretdb"


class StackError(Exception):
    """A server could not be started or reached; the message says why and what to do."""


@dataclass(frozen=True)
class Stack:
    """Where the local stack's servers listen: the one place their ports are read."""

    rabbitmq_port: int
    mysql_port: int
    mongo_port: int
    smtp_port: int
    rabbitmq_prometheus_port: int
    start_timeout_seconds: float = 120
    mail_dir: Path = STACK_DIR / "mail"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Stack:
        rabbitmq_port = int(environ.get("RABBITMQ_PORT", 5672))
        return cls(
            rabbitmq_port=rabbitmq_port,
            mysql_port=int(environ.get("MYSQL_PORT", 3306)),
            mongo_port=int(environ.get("MONGO_PORT", 27017)),
            smtp_port=int(environ.get("SMTP_PORT", 1025)),
            # 15692 beside the default 5672: moved with RABBITMQ_PORT, so that two stacks can
            # run side by side with only their four ports set.
            rabbitmq_prometheus_port=int(environ.get("RABBITMQ_PROMETHEUS_PORT", rabbitmq_port + 10020)),
            start_timeout_seconds=float(environ.get("STACK_START_TIMEOUT", 120)),
        )

    def amqp_url(self, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.rabbitmq_port}/{vhost}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    def services_environment(self) -> dict[str, str]:
        """The variables that point the four services at this stack (what `make run` exports)."""
        return {
            "AMQP_URL": self.amqp_url("%2F"),
            "MONGODB_URI": self.mongo_uri,
            "MYSQL_HOST": "127.0.0.1",
            "MYSQL_PORT": str(self.mysql_port),
            "SMTP_PORT": str(self.smtp_port),
        }

    def server_pid(self, name: str) -> int | None:
        """The pid of one of the stack's servers, as supervisord knows it; None when it is not running."""
        with contextlib.suppress(OSError):
            return supervisor().getProcessInfo(name)["pid"] or None
        return None


# ---------------------------------------------------------------------------------------------
# The four servers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """One of the stack's servers: how supervisord runs it, and how `start` knows it is ready."""

    name: str
    port: int
    command: list[str]
    is_ready: Callable[[], bool]
    description: str
    environment: dict[str, str] = field(default_factory=dict)
    directory: Path = STACK_DIR
    # Files to create before the first start; run before every start, so each must be idempotent.
    prepare: Callable[[], None] = lambda: None
    # The server's own log, shown with its output when it fails to start.
    own_log: Path | None = None

    @property
    def output_log(self) -> Path:
        return STACK_DIR / self.name / f"{self.name}.log"


def servers(stack: Stack) -> dict[str, Server]:
    return {server.name: server for server in
            (rabbitmq_server(stack), mysql_server(stack), mongo_server(stack), smtp_server(stack))}


def rabbitmq_environment(stack: Stack) -> dict[str, str]:
    """Shared by the server and `rabbitmqctl`: both must agree on node name, cookie and paths,
    and nothing may come from /etc/rabbitmq or /var/lib/rabbitmq."""
    directory = STACK_DIR / "rabbitmq"
    loopback_only = "-kernel inet_dist_use_interface {127,0,0,1}"
    return {
        # Erlang reads its cookie from $HOME/.erlang.cookie; a HOME of our own keeps it under .stack.
        "HOME": str(directory),
        # Another port gets another node name, so that a second stack (another checkout, other
        # ports) can run beside this one: both nodes register with the same epmd.
        "RABBITMQ_NODENAME": "rabbit@localhost" if stack.rabbitmq_port == 5672
        else f"rabbit-{stack.rabbitmq_port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(stack.rabbitmq_port),
        "RABBITMQ_DIST_PORT": str(stack.rabbitmq_port + 20000),
        "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
        "RABBITMQ_LOG_BASE": str(directory / "log"),
        "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        # Without it the script runs the Erlang VM as a child behind a shell that forwards
        # signals, and supervisord's pid would be the shell's: a kill -9 of it would leave the
        # broker running. With it the script execs the VM, and -noinput turns the Erlang shell
        # off again. The VM itself stops cleanly on SIGTERM.
        "RABBITMQ_ALLOW_INPUT": "true",
        "RABBITMQ_SERVER_START_ARGS": "-noinput",
        # epmd (started by the first Erlang node) and the distribution listeners of the node and of
        # rabbitmqctl would otherwise listen on every interface.
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": loopback_only,
        "RABBITMQ_CTL_ERL_ARGS": loopback_only,
        "ERL_CRASH_DUMP": str(directory / "erl_crash.dump"),
    }


def rabbitmq_server(stack: Stack) -> Server:
    directory = STACK_DIR / "rabbitmq"
    environment = rabbitmq_environment(stack)

    def prepare():
        (directory / "mnesia").mkdir(parents=True, exist_ok=True)
        (directory / "log").mkdir(exist_ok=True)
        cookie = directory / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(uuid.uuid4().hex)
            cookie.chmod(0o400)
        # Empty on purpose: it replaces /etc/rabbitmq/rabbitmq-env.conf.
        (directory / "rabbitmq-env.conf").write_text("")
        # Prometheus metrics only; the management UI is not needed locally.
        (directory / "enabled_plugins").write_text("[rabbitmq_prometheus].\n")
        (directory / "rabbitmq.conf").write_text(
            "# Written by harness/stack.py. The AMQP listener (127.0.0.1 and RABBITMQ_PORT) is set from\n"
            "# the environment. guest/guest may only log in over loopback, which is all this stack serves.\n"
            "loopback_users.guest = true\n"
            "# The log goes to .stack/rabbitmq/log only, not a second time to supervisord's log.\n"
            "log.console = false\n"
            "prometheus.tcp.ip = 127.0.0.1\n"
            f"prometheus.tcp.port = {stack.rabbitmq_prometheus_port}\n"
        )

    # Ready once a client can log in (the AMQP listener opens only at the end of boot) and the
    # metrics listener is up.
    def is_ready():
        parameters = pika.ConnectionParameters("127.0.0.1", stack.rabbitmq_port, connection_attempts=1,
                                               socket_timeout=2, stack_timeout=5)
        try:
            pika.BlockingConnection(parameters).close()
        except (pika.exceptions.AMQPError, OSError):
            return False
        return port_is_open(stack.rabbitmq_prometheus_port)

    return Server(
        name="rabbitmq", port=stack.rabbitmq_port, command=[str(RABBITMQ_BIN / "rabbitmq-server")],
        is_ready=is_ready, environment=environment, directory=directory, prepare=prepare,
        own_log=directory / "log" / f"{environment['RABBITMQ_NODENAME']}.log",
        description=f"{stack.amqp_url('')}, metrics http://127.0.0.1:{stack.rabbitmq_prometheus_port}/metrics",
    )


def mysql_root_command(*args: str) -> list[str]:
    """The mariadb client as root on the stack's socket. --no-defaults everywhere: Debian's
    /etc/mysql files point at /var/lib/mysql and /run/mysqld."""
    return ["mariadb", "--no-defaults", f"--socket={MYSQL_SOCKET}", "--user=root", *args]


def mysql_server(stack: Stack) -> Server:
    data_dir = MYSQL_DIR / "data"

    def prepare():
        if MYSQL_INITIALISED.exists():
            return
        say("mysql: creating a fresh data directory")
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        install_log = MYSQL_DIR / "install-db.log"
        # root@localhost authenticates by unix socket: the OS root user, no password to leak.
        with install_log.open("w") as log:
            installed = subprocess.run(
                ["mariadb-install-db", "--no-defaults", f"--datadir={data_dir}", "--user=root",
                 "--auth-root-authentication-method=socket", "--skip-test-db"], stdout=log, stderr=log)
        if installed.returncode != 0:
            raise StackError(f"mariadb-install-db failed\n{tail(install_log)}")

    # Asked over the socket as root: a TCP probe without a valid login would be logged as an
    # aborted connection on every poll. The TCP side is checked once, with the app's login, after init.
    def is_ready():
        try:
            MySQLdb.connect(unix_socket=str(MYSQL_SOCKET), user="root", connect_timeout=2).close()
        except MySQLdb.Error:
            return False
        return True

    return Server(
        name="mysql", port=stack.mysql_port, is_ready=is_ready, prepare=prepare, own_log=MYSQL_DIR / "error.log",
        command=["mariadbd", "--no-defaults", f"--datadir={data_dir}", "--user=root", "--bind-address=127.0.0.1",
                 f"--port={stack.mysql_port}", f"--socket={MYSQL_SOCKET}", f"--log-error={MYSQL_DIR / 'error.log'}",
                 "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci", "--skip-name-resolve"],
        description=f"127.0.0.1:{stack.mysql_port}, socket {MYSQL_SOCKET.relative_to(REPO)}",
    )


def apply_mysql_init(stack: Stack) -> None:
    """Like the official image's /docker-entrypoint-initdb.d: every mysql-init/*.sql in name order,
    fed to the mariadb client in the `auth` database; then the application's user.

    At every start, since the files are idempotent (CREATE ... IF NOT EXISTS): a table added to
    mysql-init/ reaches an existing local database too. `auth%` is a wildcard so the tests can
    create and drop their own auth_test_* databases.
    """
    def run_as_root(sql: str, *args: str) -> None:
        done = subprocess.run(mysql_root_command(*args), input=sql, text=True, capture_output=True)
        if done.returncode != 0:
            raise StackError(f"mysql: {done.stderr.strip()}")

    run_as_root("CREATE DATABASE IF NOT EXISTS auth CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    for sql_file in sorted((REPO / "mysql-init").glob("*.sql")):
        say(f"mysql: applying {sql_file.relative_to(REPO)}")
        run_as_root(sql_file.read_text(), "--database=auth")
    run_as_root("""
        CREATE USER IF NOT EXISTS 'auth'@'127.0.0.1' IDENTIFIED BY 'auth';
        CREATE USER IF NOT EXISTS 'auth'@'localhost' IDENTIFIED BY 'auth';
        GRANT ALL PRIVILEGES ON `auth%`.* TO 'auth'@'127.0.0.1';
        GRANT ALL PRIVILEGES ON `auth%`.* TO 'auth'@'localhost';
    """)
    MYSQL_INITIALISED.touch()
    # What the auth service does: log in as `auth` over TCP.
    try:
        _connect(stack).close()
    except MySQLdb.Error as error:
        raise StackError(f"mysql: user 'auth' cannot log in over TCP on 127.0.0.1:{stack.mysql_port}: "
                         f"{error}") from None


def mongo_server(stack: Stack) -> Server:
    # Debian packages no mongod: scripts/stack.sh builds FerretDB (tools/ferretdb) when there is none.
    if mongod := shutil.which("mongod"):
        kind, data_dir = "mongod", STACK_DIR / "mongo" / "mongod"
        command = [mongod, "--dbpath", str(data_dir), "--bind_ip", "127.0.0.1", "--port", str(stack.mongo_port)]
    else:
        kind, data_dir = "FerretDB", STACK_DIR / "mongo" / "ferretdb"
        command = [str(FERRETDB_BIN), "-listen-addr", f"127.0.0.1:{stack.mongo_port}", "-sqlite-dir", str(data_dir)]

    # A TCP accept is not enough: FerretDB opens its listener before its backend is usable.
    def is_ready():
        client = pymongo.MongoClient(stack.mongo_uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
        try:
            client.admin.command("ping")
        except pymongo.errors.PyMongoError:
            return False
        finally:
            client.close()
        return True

    return Server(
        name="mongo", port=stack.mongo_port, command=command, is_ready=is_ready,
        prepare=lambda: data_dir.mkdir(parents=True, exist_ok=True),
        description=f"{stack.mongo_uri} ({kind})",
    )


def smtp_server(stack: Stack) -> Server:
    # Ready once it greets with "220" (smtplib refuses any other greeting).
    def is_ready():
        try:
            smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=2).quit()
        except (OSError, smtplib.SMTPException):
            return False
        return True

    # aiosmtpd from the venv; each message becomes one file in the Maildir's new/. -n: as root
    # aiosmtpd would otherwise switch to the user "nobody", who cannot write .stack.
    return Server(
        name="smtp", port=stack.smtp_port, is_ready=is_ready,
        command=[str(VENV_BIN / "python"), "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{stack.smtp_port}",
                 "-c", "aiosmtpd.handlers.Mailbox", str(stack.mail_dir)],
        description=f"127.0.0.1:{stack.smtp_port} -> {stack.mail_dir.relative_to(REPO)}/new",
    )


# ---------------------------------------------------------------------------------------------
# supervisord
# ---------------------------------------------------------------------------------------------


def supervisord_config(all_servers: Mapping[str, Server]) -> str:
    """supervisord's config: the four servers in the foreground, started only when asked."""
    def value(text) -> str:
        # supervisord expands %(name)s in its values; a literal % is written %%.
        return str(text).replace("%", "%%")

    sections = [f"""; Written by harness/stack.py at each start; edit that instead.
[supervisord]
pidfile = {value(SUPERVISORD_PID_FILE)}
logfile = {value(STACK_DIR / "supervisord.log")}
childlogdir = {value(STACK_DIR)}

[unix_http_server]
file = {value(SUPERVISOR_SOCKET)}
chmod = 0700

[supervisorctl]
serverurl = unix://{value(SUPERVISOR_SOCKET)}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
"""]
    for server in all_servers.values():
        environment = ",".join(f'{key}="{value(setting)}"' for key, setting in server.environment.items())
        # setpriv --pdeathsig: should supervisord itself be killed, the kernel kills its servers
        # too, as a kill -9 of each would; none is left holding a port or a data directory, and
        # the next start begins from nothing running.
        command = shlex.join(["setpriv", "--pdeathsig", "KILL", "--", *server.command])
        # autorestart off: a test that kills a server must see it dead. startsecs 0: a
        # server counts as started at once; `start` then waits until it answers.
        sections.append(f"""
[program:{server.name}]
command = {value(command)}
directory = {value(server.directory)}
environment = {environment}
autostart = false
autorestart = false
startsecs = 0
stopsignal = TERM
stopwaitsecs = {STOP_TIMEOUT_SECONDS}
; Only a SIGKILL goes to the whole group: a SIGTERM to Erlang's helper processes would crash the VM.
killasgroup = true
redirect_stderr = true
stdout_logfile = {value(server.output_log)}
""")
    return "".join(sections)


def supervisor():
    """supervisord's XML-RPC interface on the stack's control socket (raises OSError if it is not running)."""
    proxy = xmlrpc.client.ServerProxy(
        "http://localhost", transport=SupervisorTransport(serverurl=f"unix://{SUPERVISOR_SOCKET}"))
    proxy.supervisor.getPID()
    return proxy.supervisor


def start_supervisord(all_servers: Mapping[str, Server], config: str):
    for server in all_servers.values():
        server.output_log.parent.mkdir(parents=True, exist_ok=True)
    SUPERVISORD_CONFIG.write_text(config)
    # supervisord opens its control socket, then forks into the background in a session of its
    # own (so a Ctrl-C in the terminal that ran `make test` does not reach the stack) and closes
    # its standard streams: once this returns, the socket answers.
    if subprocess.run([str(VENV_BIN / "supervisord"), "-c", str(SUPERVISORD_CONFIG)]).returncode != 0:
        raise StackError("supervisord did not start (see its message above)")
    return supervisor()


# What supervisord says of a process that has been spawned and not exited (startsecs is 0, so
# STARTING lasts until supervisord's next turn).
ALIVE = ("STARTING", "RUNNING")


def state_of(control, name: str) -> tuple[str, int]:
    info = control.getProcessInfo(name)
    return info["statename"], info["pid"]


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def start(stack: Stack, names: list[str]) -> None:
    """Start the named servers (all by default) and wait until each answers; running ones are left alone."""
    all_servers = servers(stack)
    config = supervisord_config(all_servers)
    # The Maildir's tmp/new/cur, even when the SMTP sink is already up: Python's mailbox.Maildir
    # creates them only if the directory itself is missing, and delivery needs tmp/.
    for part in ("tmp", "new", "cur"):
        (stack.mail_dir / part).mkdir(parents=True, exist_ok=True)
    try:
        control = supervisor()
    except OSError:
        control = start_supervisord(all_servers, config)
    if SUPERVISORD_CONFIG.read_text() != config:
        raise StackError("the stack is running with other settings (ports?) than these; "
                         "`scripts/stack.sh stop` it first, or export the ports it was started with")

    # Launch everything first and wait afterwards, so the servers boot side by side.
    launched = []
    for name in names:
        server = all_servers[name]
        state, pid = state_of(control, name)
        if state in ALIVE:
            say(f"{name} already running (pid {pid})")
            continue
        # A foreign listener on our port would answer the readiness check and hide a server
        # that failed to bind, so refuse to start rather than wait on the wrong process.
        if port_is_open(server.port):
            raise StackError(f"{name}: 127.0.0.1:{server.port} is already in use by another process "
                             f"(`ss -ltnp 'sport = :{server.port}'` shows which). Stop it, or choose another "
                             f"port ({name.upper()}_PORT=..., the same for the tests).")
        server.prepare()
        try:
            control.startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            raise StackError(f"{name}: supervisord could not start it: {fault.faultString}\n"
                             f"{failure_logs(server)}") from None
        launched.append(server)

    for server in launched:
        await_ready(control, server, stack.start_timeout_seconds)

    if "mysql" in names:
        try:
            apply_mysql_init(stack)
        except StackError:
            if not MYSQL_INITIALISED.exists():
                # Leave nothing half-made: the next start begins again from an empty directory.
                control.stopProcess("mysql")
                say("mysql: the init scripts failed; the next start retries from scratch")
            raise


def await_ready(control, server: Server, timeout: float) -> None:
    """Poll the server's readiness check until it passes, failing early if the server exits."""
    deadline = time.monotonic() + timeout
    while not server.is_ready():
        state, pid = state_of(control, server.name)
        if state not in ALIVE:
            raise StackError(f"{server.name} exited during start-up ({state})\n{failure_logs(server)}")
        if time.monotonic() > deadline:
            raise StackError(f"{server.name} did not accept connections within {timeout:.0f} s "
                             f"(pid {pid} still running)\n{failure_logs(server)}")
        time.sleep(0.5)
    say(f"{server.name} ready on 127.0.0.1:{server.port}")


def stop(names: list[str]) -> None:
    """Stop the named servers, or with no names the whole stack, supervisord and epmd included."""
    try:
        control = supervisor()
    except OSError:
        control = None
    if names:
        for name in names:
            if control is None:
                continue
            say(f"stopping {name}")
            try:
                control.stopProcess(name)
            except xmlrpc.client.Fault as fault:
                if fault.faultCode != Faults.NOT_RUNNING:
                    raise
        return
    if control is not None:
        say("stopping the stack")
        # supervisord stops each server (SIGTERM, then SIGKILL after STOP_TIMEOUT_SECONDS) and
        # removes its pid file as the last thing before it exits.
        control.shutdown()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS * len(SERVERS) + 10
        while SUPERVISORD_PID_FILE.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    stop_epmd()


def stop_epmd() -> None:
    """The RabbitMQ node leaves epmd (Erlang's name server) running. `epmd -kill` is refused while
    any node is still registered, so this cannot take epmd away from some other Erlang node."""
    if subprocess.run(["epmd", "-names"], capture_output=True).returncode != 0:
        return
    if subprocess.run(["epmd", "-kill"], capture_output=True).returncode == 0:
        say("stopped epmd")
    else:
        say("epmd still serves other Erlang nodes; leaving it running")


def status(stack: Stack) -> bool:
    """Print each server's state; True only if every one is running and answering."""
    try:
        control = supervisor()
        say(f"supervisord running (pid {control.getPID()}), control socket {SUPERVISOR_SOCKET.relative_to(REPO)}")
    except OSError:
        control = None
        say("supervisord not running")
    all_answering = True
    for name, server in servers(stack).items():
        state, pid = state_of(control, name) if control else ("STOPPED", 0)
        if state not in ALIVE:
            shown, pid = "stopped", "-"
        elif server.is_ready():
            shown = "running"
        else:
            shown = "not answering"
        all_answering = all_answering and shown == "running"
        print(f"{name:<9} {shown:<14} pid {pid:<8} {server.description}")
    return all_answering


def say(message: str) -> None:
    print(f"stack: {message}", flush=True)


def tail(path: Path, lines: int = 25) -> str:
    try:
        return f"--- last lines of {path}:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def failure_logs(server: Server) -> str:
    return "\n".join(tail(path) for path in (server.output_log, server.own_log) if path)


@contextlib.contextmanager
def stack_lock():
    """Holds .stack/lock, so that two starts (two terminals, or a test run and `make run`) run one
    after the other: the second finds everything up and does nothing."""
    STACK_DIR.mkdir(exist_ok=True)
    with open(STACK_DIR / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def main(argv: list[str]) -> int:
    command, *args = argv or [""]
    stack = Stack.from_env()
    # pika logs every refused connection as an error; while a broker boots those are expected.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    if command in ("start", "stop"):
        unknown = sorted(set(args) - set(SERVERS))
        if unknown:
            print(f"stack: unknown server {', '.join(unknown)} (one of: {' '.join(SERVERS)})", file=sys.stderr)
            return 2
        try:
            with stack_lock():
                if command == "stop":
                    stop(args)
                    return 0
                start(stack, args or list(SERVERS))
        except StackError as error:
            print(f"stack: error: {error}", file=sys.stderr)
            return 1
        status(stack)
        return 0
    if command == "status":
        return 0 if status(stack) else 1
    if command == "env":
        print("\n".join(f"{key}={setting}" for key, setting in stack.services_environment().items()))
        return 0
    if command == "rabbitmqctl":
        os.execve(RABBITMQ_BIN / "rabbitmqctl", ["rabbitmqctl", *args], {**os.environ, **rabbitmq_environment(stack)})
    if command == "mysql":
        os.execvp("mariadb", mysql_root_command(*args))
    print("usage: python -m harness.stack start|stop [SERVER...] | status | env | rabbitmqctl ARGS... | mysql ARGS..."
          " (scripts/stack.sh says what each does)", file=sys.stderr)
    return 2


# ---------------------------------------------------------------------------------------------
# What the tests and the bench use
# ---------------------------------------------------------------------------------------------


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_stack(*args: str, stdin=None) -> subprocess.CompletedProcess:
    """Run `scripts/stack.sh ARGS...` (rabbitmqctl, mysql, start, stop ...); raise if it fails."""
    return subprocess.run([str(STACK_SCRIPT), *args], check=True, capture_output=True, text=True, stdin=stdin)


@contextlib.contextmanager
def fresh_vhost(stack: Stack, prefix: str):
    """A RabbitMQ vhost named ``prefix`` plus a random suffix; yields its AMQP URL, then deletes it."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:12]}"
    run_stack("rabbitmqctl", "add_vhost", vhost)
    run_stack("rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield stack.amqp_url(vhost)
    finally:
        run_stack("rabbitmqctl", "delete_vhost", vhost)


@contextlib.contextmanager
def fresh_auth_database(stack: Stack, prefix: str):
    """A database named ``prefix`` plus a random suffix, with mysql-init/ loaded; dropped afterwards.

    Each file goes to the server whole, as the mariadb client sends it, and the server parses
    it: a file needs no shape that suits a loader of ours.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with contextlib.closing(_connect(stack)) as connection:
        cursor = connection.cursor()
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        connection.select_db(name)
        for sql_file in sorted((REPO / "mysql-init").glob("*.sql")):
            cursor.execute(sql_file.read_text())
            while cursor.nextset():
                pass
        # Jobs in MongoDB outlive this database and name their owner by user id. Ids that start
        # anywhere in a wide range keep this run's users from owning an earlier run's jobs, as a
        # real deployment, whose ids are never reused, never would.
        cursor.execute(f"ALTER TABLE `user` AUTO_INCREMENT = {random.randrange(1, 2**40)}")
    try:
        yield name
    finally:
        # A connection of its own: MariaDB may have been restarted meanwhile (tests/faults).
        with contextlib.closing(_connect(stack)) as connection:
            connection.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")


def _connect(stack: Stack):
    return MySQLdb.connect(host="127.0.0.1", port=stack.mysql_port, user="auth", password="auth", charset="utf8mb4",
                           client_flag=MySQLdb.constants.CLIENT.MULTI_STATEMENTS)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
