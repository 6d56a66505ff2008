#!/usr/bin/env bash
# The local stack the services and the tests run against: RabbitMQ, MariaDB, a MongoDB-protocol
# server (mongod if installed, else FerretDB on SQLite) and an SMTP sink writing to a Maildir.
#
# They run as plain processes, not containers (this machine has no Docker engine), listen on
# 127.0.0.1 only, and keep every file under <repo>/.stack, so `rm -rf .stack` is a full reset.
#
# usage: scripts/stack.sh start|stop [SERVER...]   SERVER: rabbitmq mysql mongo smtp (default: all)
#        scripts/stack.sh status|deps
#        scripts/stack.sh build-ferretdb          build .bin/ferretdb if missing (the compose test's stand-in)
#        scripts/stack.sh rabbitmqctl ARGS...   rabbitmqctl against the stack's node
#        scripts/stack.sh mysql ARGS...         the mariadb client, as root, on the stack's socket
#
# Ports come from the same variables the tests read: RABBITMQ_PORT, MYSQL_PORT, MONGO_PORT,
# SMTP_PORT, and RABBITMQ_PROMETHEUS_PORT for RabbitMQ's own metrics. STACK_START_TIMEOUT bounds the wait for each server (seconds).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stack="$repo/.stack"
venv="$repo/.venv"

RABBITMQ_PORT="${RABBITMQ_PORT:-5672}"
MYSQL_PORT="${MYSQL_PORT:-3306}"
MONGO_PORT="${MONGO_PORT:-27017}"
SMTP_PORT="${SMTP_PORT:-1025}"
RABBITMQ_PROMETHEUS_PORT="${RABBITMQ_PROMETHEUS_PORT:-15692}"
START_TIMEOUT="${STACK_START_TIMEOUT:-120}"
STOP_TIMEOUT=60

SERVERS=(rabbitmq mysql mongo smtp)

# The Debian wrapper /usr/sbin/rabbitmq-server switches to the rabbitmq user (`su rabbitmq`),
# which could not write to .stack; the scripts it wraps run as whoever calls them.
RABBITMQ_BIN=/usr/lib/rabbitmq/bin

mysql_dir="$stack/mysql"
mysql_socket="$mysql_dir/mysqld.sock"
# Written only once the init scripts have run: without it the data directory is half-made.
mysql_initialised="$mysql_dir/initialised"

ferretdb_src="$repo/tools/ferretdb"
ferretdb_bin="$repo/.bin/ferretdb"
mail_dir="$stack/mail"

log() { echo "stack: $*"; }
die() { echo "stack: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------

pidfile() { echo "$stack/$1/$1.pid"; }
logfile() { echo "$stack/$1/$1.log"; }

# What each server's command line contains: a pid file can outlive its process (a reboot, a
# kill -9) and the pid be reused by something else, which `stop` must never signal.
cmdline_marker() {
    case "$1" in
        rabbitmq) echo rabbit ;;
        mysql) echo mariadbd ;;
        mongo) echo 'mongod|ferretdb' ;;
        smtp) echo aiosmtpd ;;
    esac
}

# A zombie still has a /proc entry but will never serve again, so it counts as gone.
is_alive() {
    local pid="$1" marker="$2" stat
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    [[ "${stat##*) }" != Z* ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE -- "$marker"
}

# Prints the pid of a running server and succeeds, or fails if it is not running.
running_pid() {
    local name="$1" pid
    pid="$(cat "$(pidfile "$name")" 2>/dev/null)" || return 1
    is_alive "$pid" "$(cmdline_marker "$name")" || return 1
    echo "$pid"
}

# setsid puts the server in a session of its own, so a Ctrl-C in the terminal that ran
# `make test` does not reach it; all three standard streams are redirected so that no caller
# waiting for this script's output waits for the server too.
launch() {
    local name="$1" pid deadline=$((SECONDS + 5))
    shift
    mkdir -p "$stack/$name"
    echo "--- $(date -Is) starting: $*" >>"$(logfile "$name")"
    # 9>&-: the stack lock's descriptor must not live on in the server (see with_lock).
    setsid "$@" </dev/null >>"$(logfile "$name")" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$(pidfile "$name")"
    # Until the fork has exec'd, the child still looks like this script; wait for that moment
    # so that every later look at the pid sees the server (or its death).
    while [[ -e "/proc/$pid" ]] && ! is_alive "$pid" "$(cmdline_marker "$name")" &&
        ((SECONDS < deadline)); do
        sleep 0.05
    done
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port_of() {
    case "$1" in
        rabbitmq) echo "$RABBITMQ_PORT" ;;
        mysql) echo "$MYSQL_PORT" ;;
        mongo) echo "$MONGO_PORT" ;;
        smtp) echo "$SMTP_PORT" ;;
    esac
}

# A foreign listener on our port would answer our readiness checks and hide a server that failed
# to bind, so refuse to start rather than wait on the wrong process.
require_port_free() {
    local name="$1" port
    port="$(port_of "$name")"
    if port_open "$port"; then
        die "$name: 127.0.0.1:$port is already in use by another process:
$(ss -Hltnp "sport = :$port" 2>/dev/null || true)
Stop it, or choose another port (e.g. ${name^^}_PORT=$((port + 1)), the same for the tests)."
    fi
}

# The launch log (stdout and stderr) and, where the server keeps one, its own log.
log_tail() {
    local name="$1" file
    for file in "$(logfile "$name")" $("${name}_extra_logs"); do
        [[ -f "$file" ]] || continue
        echo "--- last lines of $file:"
        tail -n 25 "$file"
    done
}

# Polls NAME's readiness check until it passes, failing early if the process dies.
await() {
    local name="$1" deadline=$((SECONDS + START_TIMEOUT)) pid
    pid="$(cat "$(pidfile "$name")")"
    until "${name}_ready"; do
        if ! is_alive "$pid" "$(cmdline_marker "$name")"; then
            log_tail "$name" >&2
            die "$name exited during start-up (see the log above)"
        fi
        if ((SECONDS >= deadline)); then
            log_tail "$name" >&2
            die "$name did not accept connections within ${START_TIMEOUT}s (pid $pid still running)"
        fi
        sleep 0.5
    done
    log "$name ready on 127.0.0.1:$(port_of "$name")"
}

# Waits (bounded) until none of the pids has a /proc entry. An exited process lingers there as
# a zombie until init reaps it; waiting for that means `ps` right after a stop shows nothing.
wait_reaped() {
    local deadline=$((SECONDS + 5)) pid
    for pid in "$@"; do
        while [[ -e "/proc/$pid" ]] && ((SECONDS < deadline)); do
            sleep 0.1
        done
    done
}

# SIGTERM is a clean shutdown for all four; SIGKILL only if one hangs.
stop_server() {
    local name="$1" pid deadline helpers
    if ! pid="$(running_pid "$name")"; then
        rm -f "$(pidfile "$name")"
        return 0
    fi
    log "stopping $name (pid $pid)"
    # Helper processes (Erlang's erl_child_setup and inet_gethost) exit with their parent.
    mapfile -t helpers < <(pgrep -P "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while is_alive "$pid" "$(cmdline_marker "$name")"; do
        if ((SECONDS >= deadline)); then
            log "$name did not stop within ${STOP_TIMEOUT}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.2
    done
    wait_reaped "$pid" "${helpers[@]}"
    rm -f "$(pidfile "$name")"
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ
# ---------------------------------------------------------------------------------------------

# Shared by the server and the rabbitmqctl passthrough: both must agree on node name, cookie
# and paths, and nothing may come from /etc/rabbitmq or /var/lib/rabbitmq.
rabbitmq_env() {
    local dir="$stack/rabbitmq"
    # Erlang reads its cookie from $HOME/.erlang.cookie; a HOME of our own keeps it under .stack.
    export HOME="$dir"
    # Another port gets another node name, so that a second stack (another checkout, other
    # ports) can run beside this one: both nodes register with the same epmd.
    if [[ "$RABBITMQ_PORT" == 5672 ]]; then
        export RABBITMQ_NODENAME=rabbit@localhost
    else
        export RABBITMQ_NODENAME="rabbit-$RABBITMQ_PORT@localhost"
    fi
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT="$RABBITMQ_PORT"
    export RABBITMQ_DIST_PORT=$((RABBITMQ_PORT + 20000))
    export RABBITMQ_MNESIA_BASE="$dir/mnesia"
    export RABBITMQ_LOG_BASE="$dir/log"
    RABBITMQ_PID_FILE="$(pidfile rabbitmq)"
    export RABBITMQ_PID_FILE
    export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
    export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    # epmd (started by the first Erlang node) and the distribution listeners of the node and of
    # rabbitmqctl would otherwise listen on every interface.
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export ERL_CRASH_DUMP="$dir/erl_crash.dump"
}

rabbitmq_launch() {
    local dir="$stack/rabbitmq"
    mkdir -p "$dir/mnesia" "$dir/log"
    if [[ ! -f "$dir/.erlang.cookie" ]]; then
        (umask 077 && head -c 32 /dev/urandom | sha256sum | cut -c1-40 >"$dir/.erlang.cookie")
        chmod 400 "$dir/.erlang.cookie"
    fi
    # Empty on purpose: it replaces /etc/rabbitmq/rabbitmq-env.conf.
    : >"$dir/rabbitmq-env.conf"
    # Only its Prometheus endpoint (queue depths for the metrics and alerts); the management UI is
    # not needed locally.
    echo '[rabbitmq_prometheus].' >"$dir/enabled_plugins"
    cat >"$dir/rabbitmq.conf" <<'EOF'
# Written by scripts/stack.sh. The listener (127.0.0.1 and RABBITMQ_PORT) is set from the
# environment. guest/guest may only log in over loopback, which is all this stack serves.
loopback_users.guest = true
# The log goes to .stack/rabbitmq/log only, not a second time to the launch log.
log.console = false
EOF
    printf 'prometheus.tcp.ip = 127.0.0.1\nprometheus.tcp.port = %s\n' "$RABBITMQ_PROMETHEUS_PORT" >>"$dir/rabbitmq.conf"
    (rabbitmq_env && cd "$dir" && launch rabbitmq "$RABBITMQ_BIN/rabbitmq-server")
}

# The broker is ready once it answers the AMQP 0-9-1 protocol header with a method frame
# (frame type 1, Connection.Start); its listener opens only at the end of boot.
rabbitmq_ready() (
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$RABBITMQ_PORT" || exit 1
    printf 'AMQP\x00\x00\x09\x01' >&3
    frame_type="$(timeout 2 head -c 1 <&3 | od -An -tu1)"
    [[ "${frame_type// /}" == 1 ]]
)

rabbitmq_extra_logs() { (rabbitmq_env && echo "$RABBITMQ_LOG_BASE/$RABBITMQ_NODENAME.log"); }

# The node leaves epmd (Erlang's name server) running. `epmd -kill` is refused while any node is
# still registered, so this cannot take epmd away from some other Erlang node.
stop_epmd() {
    local pids
    epmd -names >/dev/null 2>&1 || return 0
    mapfile -t pids < <(pgrep -x epmd)
    log "stopping epmd"
    if ! epmd -kill >/dev/null 2>&1; then
        log "epmd still serves other Erlang nodes; leaving it running"
        return 0
    fi
    wait_reaped "${pids[@]}"
}

# ---------------------------------------------------------------------------------------------
# MariaDB
# ---------------------------------------------------------------------------------------------

# --no-defaults everywhere: Debian's /etc/mysql files point at /var/lib/mysql and /run/mysqld.
mysql_root() {
    mariadb --no-defaults --socket="$mysql_socket" --user=root "$@"
}

mysql_launch() {
    if [[ ! -f "$mysql_initialised" ]]; then
        log "mysql: creating a fresh data directory"
        rm -rf "$mysql_dir/data"
        mkdir -p "$mysql_dir/data"
        # root@localhost authenticates by unix socket: the OS root user, no password to leak.
        mariadb-install-db --no-defaults --datadir="$mysql_dir/data" --user=root \
            --auth-root-authentication-method=socket --skip-test-db \
            >"$mysql_dir/install-db.log" 2>&1 ||
            { tail -n 25 "$mysql_dir/install-db.log" >&2; die "mariadb-install-db failed"; }
    fi
    launch mysql mariadbd --no-defaults \
        --datadir="$mysql_dir/data" \
        --user=root \
        --bind-address=127.0.0.1 \
        --port="$MYSQL_PORT" \
        --socket="$mysql_socket" \
        --pid-file="$(pidfile mysql)" \
        --log-error="$mysql_dir/error.log" \
        --character-set-server=utf8mb4 \
        --collation-server=utf8mb4_general_ci \
        --skip-name-resolve
}

# Asked over the socket as root: a TCP probe without a valid login would be logged as an aborted
# connection on every poll. The TCP side is checked once, with the app's login, after init.
mysql_ready() {
    mariadb-admin --no-defaults --socket="$mysql_socket" --user=root --connect-timeout=2 \
        ping >/dev/null 2>&1
}

# What the auth service does: log in as `auth` over TCP.
mysql_check_app_login() {
    mariadb --no-defaults --skip-ssl --protocol=tcp --host=127.0.0.1 --port="$MYSQL_PORT" \
        --user=auth --password=auth --connect-timeout=5 --execute='SELECT 1' auth >/dev/null
}

mysql_extra_logs() { echo "$mysql_dir/error.log"; }

# Like the official image's /docker-entrypoint-initdb.d: every mysql-init/*.sql in name order
# (here at every start, since they are idempotent); then the application's user. `auth%` is a wildcard so the
# tests can create and drop their own auth_test_* databases.
mysql_apply_init() {
    local sql_file
    # The image creates MARIADB_DATABASE and runs the files in it; so does this.
    mysql_root --execute='CREATE DATABASE IF NOT EXISTS auth CHARACTER SET utf8mb4 COLLATE utf8mb4_bin' || return 1
    while IFS= read -r sql_file; do
        log "mysql: applying ${sql_file#"$repo"/}"
        mysql_root --database=auth <"$sql_file" || return 1
    done < <(find "$repo/mysql-init" -maxdepth 1 -name '*.sql' 2>/dev/null | LC_ALL=C sort)
    mysql_root <<'EOF' || return 1
CREATE USER IF NOT EXISTS 'auth'@'127.0.0.1' IDENTIFIED BY 'auth';
CREATE USER IF NOT EXISTS 'auth'@'localhost' IDENTIFIED BY 'auth';
GRANT ALL PRIVILEGES ON `auth%`.* TO 'auth'@'127.0.0.1';
GRANT ALL PRIVILEGES ON `auth%`.* TO 'auth'@'localhost';
EOF
    touch "$mysql_initialised"
}

# ---------------------------------------------------------------------------------------------
# MongoDB protocol: mongod when installed, else FerretDB (Debian packages no mongod)
# ---------------------------------------------------------------------------------------------

find_go() {
    command -v go || { [[ -x /usr/local/go/bin/go ]] && echo /usr/local/go/bin/go; }
}

ferretdb_source_hash() {
    (cd "$ferretdb_src" && sha256sum main.go go.mod go.sum) | sha256sum | cut -d' ' -f1
}

# Rebuilt only when the source changes. A hash of it, not file times: a fresh clone gives
# every file a new time.
build_ferretdb() {
    local wanted go
    wanted="$(ferretdb_source_hash)"
    if [[ -x "$ferretdb_bin" && "$(cat "$ferretdb_bin.sha256" 2>/dev/null)" == "$wanted" ]]; then
        return 0
    fi
    go="$(find_go)" || die "Go is needed to build FerretDB (tools/ferretdb), and was not found"
    log "mongo: building FerretDB into .bin/ferretdb (first time: a few minutes)"
    mkdir -p "$(dirname "$ferretdb_bin")"
    # -buildvcs=false: stamping the binary with git metadata needs git and a trusted checkout.
    (cd "$ferretdb_src" && "$go" build -trimpath -buildvcs=false -o "$ferretdb_bin.new" .) ||
        die "building FerretDB failed (see the Go output above)"
    mv "$ferretdb_bin.new" "$ferretdb_bin"
    echo "$wanted" >"$ferretdb_bin.sha256"
}

mongo_launch() {
    if command -v mongod >/dev/null; then
        mkdir -p "$stack/mongo/mongod"
        launch mongo mongod --dbpath "$stack/mongo/mongod" --bind_ip 127.0.0.1 --port "$MONGO_PORT"
    else
        build_ferretdb
        launch mongo "$ferretdb_bin" -listen-addr "127.0.0.1:$MONGO_PORT" \
            -sqlite-dir "$stack/mongo/ferretdb"
    fi
}

# A TCP accept is not enough: FerretDB opens its listener before its backend is usable.
mongo_ready() {
    "$venv/bin/python" - "mongodb://127.0.0.1:$MONGO_PORT/" >/dev/null 2>&1 <<'EOF'
import sys
import pymongo

client = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
client.admin.command("ping")
EOF
}

mongo_extra_logs() { :; }

# ---------------------------------------------------------------------------------------------
# SMTP: aiosmtpd from the venv; each message becomes one file in .stack/mail/new
# ---------------------------------------------------------------------------------------------

smtp_launch() {
    # -n: as root aiosmtpd would otherwise switch to the user "nobody", who cannot write .stack.
    launch smtp "$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" \
        -c aiosmtpd.handlers.Mailbox "$mail_dir"
}

# Ready once it greets with "220".
smtp_ready() (
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT" || exit 1
    read -r -t 2 greeting <&3 || exit 1
    printf 'QUIT\r\n' >&3
    [[ "$greeting" == 220* ]]
)

smtp_extra_logs() { :; }

# ---------------------------------------------------------------------------------------------
# System packages
# ---------------------------------------------------------------------------------------------

# Prints the Debian packages this machine lacks, one a line.
missing_packages() {
    [[ -x "$RABBITMQ_BIN/rabbitmq-server" ]] || echo rabbitmq-server
    command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null ||
        echo mariadb-server
    command -v mariadb >/dev/null || echo mariadb-client
    command -v ffmpeg >/dev/null || echo ffmpeg
    # mysqlclient (in the venv) is compiled against Connector/C, found with pkg-config.
    command -v pkg-config >/dev/null || echo pkg-config
    pkg-config --exists libmariadb 2>/dev/null || echo libmariadb-dev
    command -v cc >/dev/null || echo gcc
    # pgrep, to find the helper processes that `stop` waits for.
    command -v pgrep >/dev/null || echo procps
    # `make lint` checks the shell scripts with it.
    command -v shellcheck >/dev/null || echo shellcheck
    # Debian's own python3 ships venv and its C headers as separate packages; a python3 built
    # elsewhere (pyenv, /usr/local) has both.
    if [[ "$(command -v python3)" == /usr/bin/python3 ]]; then
        dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q 'ok installed' ||
            echo python3-venv
        python3 -c 'import os, sysconfig; exit(not os.path.exists(sysconfig.get_path("include") + "/Python.h"))' ||
            echo python3-dev
    fi
    return 0
}

# Debian would start its own RabbitMQ and MariaDB on the default ports, as their own users;
# say so, since they would collide with ours.
warn_about_debian_services() {
    local user service
    for user in rabbitmq mysql; do
        if id "$user" >/dev/null 2>&1 && pgrep -u "$user" >/dev/null 2>&1; then
            case "$user" in
                rabbitmq) service=rabbitmq-server ;;
                mysql) service=mariadb ;;
            esac
            log "warning: Debian's own $service is running (processes of user '$user'):"
            ps -o pid,args -u "$user" | sed 's/^/    /'
            log "it may hold the ports this stack needs; stop it with: service $service stop"
        fi
    done
}

cmd_deps() {
    local missing
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]})); then
        if ((EUID != 0)); then
            die "missing system packages: ${missing[*]}
install them as root: apt-get install ${missing[*]}"
        fi
        log "installing: ${missing[*]}"
        # policy-rc.d answering 101 ("not allowed") stops the packages' maintainer scripts from
        # starting Debian's own RabbitMQ and MariaDB on the ports this stack uses.
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq "${missing[@]}"
    fi
    if ! command -v mongod >/dev/null && ! find_go >/dev/null; then
        die "neither mongod nor Go (1.24 or newer, to build FerretDB) is installed"
    fi
    warn_about_debian_services
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

# With server names (`start rabbitmq mongo`), only those; the fault-injection tests restart one
# server at a time.
cmd_start() {
    local servers=("$@")
    ((${#servers[@]})) || servers=("${SERVERS[@]}")
    cmd_deps
    # The SMTP sink and the MongoDB readiness check run from the venv (a no-op when up to date).
    bash "$repo/scripts/venv.sh"
    # The full Maildir layout, even when the SMTP sink is already up: Python's mailbox.Maildir
    # creates tmp/new/cur only if the directory itself is missing, and delivery needs tmp/.
    mkdir -p "$mail_dir/tmp" "$mail_dir/new" "$mail_dir/cur"

    # Launch everything first and wait afterwards, so the servers boot side by side (and
    # RabbitMQ and MariaDB boot while FerretDB builds).
    local name pid launched=()
    for name in "${servers[@]}"; do
        known_server "$name"
        if pid="$(running_pid "$name")"; then
            log "$name already running (pid $pid)"
            continue
        fi
        require_port_free "$name"
        "${name}_launch"
        launched+=("$name")
    done

    for name in "${launched[@]}"; do
        await "$name"
    done

    if [[ " ${servers[*]} " == *" mysql "* ]]; then
        # The init scripts are idempotent (CREATE ... IF NOT EXISTS) and applied at every start,
        # so a table added to mysql-init/ reaches an existing local database too.
        if ! mysql_apply_init; then
            if [[ ! -f "$mysql_initialised" ]]; then
                # Leave nothing half-made: the next start begins again from an empty directory.
                stop_server mysql
                log_tail mysql >&2
                die "mysql: the init scripts failed (see above); the next start retries from scratch"
            fi
            die "mysql: applying mysql-init/ failed (see above)"
        fi
        mysql_check_app_login ||
            die "mysql: user 'auth' cannot log in over TCP on 127.0.0.1:$MYSQL_PORT (see the error above)"
    fi
    cmd_status || true
}

# In reverse start order; epmd last, once the RabbitMQ node has left it.
cmd_stop() {
    local i name
    if (($#)); then
        for name in "$@"; do
            known_server "$name"
            stop_server "$name"
        done
        return
    fi
    for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do
        stop_server "${SERVERS[i]}"
    done
    stop_epmd
}

known_server() {
    [[ " ${SERVERS[*]} " == *" $1 "* ]] || die "unknown server '$1' (one of: ${SERVERS[*]})"
}

describe() {
    case "$1" in
        rabbitmq) echo "amqp://guest:guest@127.0.0.1:$RABBITMQ_PORT/" ;;
        mysql) echo "127.0.0.1:$MYSQL_PORT, socket ${mysql_socket#"$repo"/}" ;;
        mongo)
            if command -v mongod >/dev/null; then
                echo "mongodb://127.0.0.1:$MONGO_PORT/ (mongod)"
            else
                echo "mongodb://127.0.0.1:$MONGO_PORT/ (FerretDB)"
            fi
            ;;
        smtp) echo "127.0.0.1:$SMTP_PORT -> ${mail_dir#"$repo"/}/new" ;;
    esac
}

# Exits non-zero unless every server is running and answering.
cmd_status() {
    local name pid state exit_code=0
    for name in "${SERVERS[@]}"; do
        if ! pid="$(running_pid "$name")"; then
            state="stopped"
            pid="-"
            exit_code=1
        elif "${name}_ready"; then
            state="running"
        else
            state="not answering"
            exit_code=1
        fi
        printf '%-9s %-14s pid %-8s %s\n' "$name" "$state" "$pid" "$(describe "$name")"
    done
    return "$exit_code"
}

# Runs a command holding .stack/lock, so that two starts (two terminals, or a test run and
# `make run`) cannot launch the same server twice.
with_lock() {
    mkdir -p "$stack"
    exec 9>"$stack/lock"
    flock 9
    "$@"
}

main() {
    local command="${1:-}"
    (($#)) && shift
    case "$command" in
        start) with_lock cmd_start "$@" ;;
        stop) with_lock cmd_stop "$@" ;;
        status) cmd_status ;;
        deps) cmd_deps ;;
        build-ferretdb) build_ferretdb ;;
        rabbitmqctl) rabbitmq_env && exec "$RABBITMQ_BIN/rabbitmqctl" "$@" ;;
        mysql) mysql_root "$@" ;;
        *)
            echo "usage: $0 start|stop|status|deps | rabbitmqctl ARGS... | mysql ARGS..." >&2
            exit 2
            ;;
    esac
}

main "$@"
