"""What scripts/stack.sh (harness/stack.py under supervisord) promises whoever starts and stops the
local stack: a server killed by its pid is seen dead and starts again, a second start changes
nothing, a killed supervisord takes its servers with it and the next start recovers, and a stop
leaves no process behind.

These stop servers that every test on this stack shares, so each starts them again however it
ends; they run last (tests/stack), and are slow only by the servers' own boot time.
"""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.stack import (
    SERVERS,
    STACK_SCRIPT,
    SUPERVISOR_SOCKET,
    SUPERVISORD_PID_FILE,
    Stack,
    port_is_open,
    run_stack,
)

STACK = Stack.from_env()
PORTS = {"rabbitmq": STACK.rabbitmq_port, "mysql": STACK.mysql_port, "mongo": STACK.mongo_port,
         "smtp": STACK.smtp_port}


def wait_until(condition, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.2)


def process_table():
    """(pid, parent pid, session id) of every live process; a zombie has exited, so it is left out."""
    table = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            table.append((int(stat_file.parent.name), int(fields[1]), int(fields[3])))
    return table


def is_alive(pid):
    return any(entry[0] == pid for entry in process_table())


def running_pids():
    pids = {name: STACK.server_pid(name) for name in SERVERS}
    assert None not in pids.values(), f"the stack is not fully running: {pids}"
    return pids


def test_a_second_start_leaves_every_running_server_as_it_is():
    before = running_pids()

    output = run_stack("start").stdout

    assert running_pids() == before
    for name, pid in before.items():
        assert f"{name} already running (pid {pid})" in output


@pytest.mark.parametrize("name", ["mongo", "smtp"])
def test_a_server_killed_by_its_pid_is_seen_stopped_and_starts_again(name):
    killed_pid = running_pids()[name]
    try:
        os.kill(killed_pid, signal.SIGKILL)
        wait_until(lambda: STACK.server_pid(name) is None, f"supervisord to see {name} gone")
        assert not port_is_open(PORTS[name])
        status = subprocess.run([str(STACK_SCRIPT), "status"], capture_output=True, text=True)
        assert status.returncode == 1
        assert re.search(rf"^{name} +stopped ", status.stdout, re.MULTILINE), status.stdout
    finally:
        run_stack("start", name)

    assert STACK.server_pid(name) not in (None, killed_pid)
    assert port_is_open(PORTS[name])


def test_a_killed_supervisord_takes_its_servers_with_it_and_the_next_start_recovers():
    server_pids = running_pids().values()
    try:
        os.kill(int(SUPERVISORD_PID_FILE.read_text()), signal.SIGKILL)
        wait_until(lambda: not any(is_alive(pid) for pid in server_pids), "the servers to die with supervisord")
    finally:
        run_stack("start")

    assert set(running_pids().values()).isdisjoint(server_pids)
    run_stack("status")


def test_stop_leaves_no_process_of_the_stack_behind():
    supervisord_pid = int(SUPERVISORD_PID_FILE.read_text())
    stack_pids = {supervisord_pid, *running_pids().values()}
    try:
        run_stack("stop")

        # The servers, their helpers (Erlang's erl_child_setup is a child of the VM) and
        # anything else supervisord's session started.
        leftovers = [pid for pid, parent, session in process_table()
                     if pid in stack_pids or parent in stack_pids or session == supervisord_pid]
        assert leftovers == []
        assert not SUPERVISOR_SOCKET.exists()
        assert not any(port_is_open(port) for port in PORTS.values())
    finally:
        run_stack("start")

