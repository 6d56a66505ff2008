"""5. The gateway: requests per second and latency of an authenticated GET /jobs/<id> under wrk,
the gateway's CPU per request, the ceiling the database alone sets, the same load on a gateway
with metrics off (bench/gateway_without_metrics.py): what the metrics cost, and on the framework
floor (bench/framework_floor.py): what gunicorn, Flask and pymongo cost without the gateway's code.

The gateway's figures are those of the median of three runs with metrics on. One core's speed
moved by up to 1.9x between runs on this project's machine (bench/machine.py), and a single
10 s run cannot tell a change of the code from a change of the machine; the speed of one core
is measured beside the runs, so that figures of different runs can be read against it."""
from __future__ import annotations

import concurrent.futures
import logging
import os
import re
import statistics
import subprocess
import time
import urllib.parse
from dataclasses import dataclass

from bench import corpus, machine, profiles
from bench.context import Failed
from bench.findings import Finding, cpu_seconds_shown
from bench.jobs import wait_for_email
from bench.sampling import CpuAccount, CpuSeconds
from bench.system import FRAMEWORK_FLOOR_APP, GATEWAY_WITHOUT_METRICS_APP
from mp3common import jobs, storage

logger = logging.getLogger(__name__)

WRK_LUA = '-- Every request carries the bench user\'s token.\nwrk.headers["Authorization"] = "Bearer {token}"\n'


@dataclass(frozen=True)
class WrkRun:
    """One wrk run against GET /jobs/<id>: what wrk reported, and what the machine spent meanwhile."""

    requests_per_second: float
    requests: int
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    non_2xx_responses: int
    socket_errors: int
    seconds: int
    threads: int
    connections: int
    gateway_workers_started_during_run: int
    cpu_seconds: CpuSeconds


@dataclass(frozen=True)
class RequestCost:
    """One component's CPU time per request during the measured run."""

    id: str
    label: str
    cpu_ms: float


@dataclass(frozen=True)
class DatabaseCeiling:
    """The job read by _id straight from the database, one client process per core."""

    processes: int
    seconds: int
    lookups_per_second: float


@dataclass(frozen=True)
class GatewayFigure(WrkRun):
    cpu_ms_per_request: list[RequestCost]
    database_ceiling: DatabaseCeiling
    # The gateway's own CPU per request (master and workers), from cpu_ms_per_request.
    gateway_cpu_ms_per_request: float | None
    share_of_database_ceiling: float  # requests_per_second / database_ceiling.lookups_per_second
    metrics_off_requests_per_second: float
    metrics_off_latency_p99_ms: float
    # Each metrics-on run, in order: the first two come right before and right after the
    # metrics-off run, so that a load that grows or fades during the runs moves both sides alike.
    metrics_on_requests_per_second_runs: list[float]
    # The mean of those two metrics-on runs / the metrics-off run.
    metrics_on_over_off: float
    # The gateway's CPU per request in each metrics-on run; the figure is their median.
    gateway_cpu_ms_per_request_runs: list[float | None]
    # Milliseconds one core took for bench/machine.py's fixed work before the first run and after the last.
    core_reference_ms: tuple[float, float]
    # The same wrk run on bench/framework_floor.py: gunicorn, Flask and pymongo with none of the
    # gateway's code; its CPU per request is what the frameworks alone cost here.
    framework_floor_requests_per_second: float
    framework_floor_cpu_ms_per_request: float | None


def measure(context) -> GatewayFigure:
    """Requests per second and latency of an authenticated GET /jobs/<id>, from wrk on loopback,
    for a fixed time with a fixed number of connections; then the database's ceiling, the same
    wrk run on a gateway with metrics off and on the framework floor, and two more runs on the
    gateway."""
    upload = context.user.upload(context.videos[corpus.SMALLEST])
    context.created_jobs.append(upload.job_id)
    context.gateway_job_id = upload.job_id
    # Converted before the load starts, so that no conversion shares the cores with the requests.
    wait_for_email(context, upload.job_id, context.system.dead_letter_count(), timeout=300)
    core_before = machine.reference_ms()
    seconds = context.plan.wrk_seconds
    # on, the ceiling, off, on, the floor, on: the ceiling is read right after a run, and the
    # metrics-off run and the floor each sit between two metrics-on runs, so that a load that
    # grows or fades during the runs moves both sides alike.
    metrics_on = [run_wrk(context, upload.job_id, seconds)]
    ceiling = database_ceiling(context.system.mongo_uri, upload.job_id, seconds)
    logger.info("gateway: the database alone answers %.0f lookups/s", ceiling.lookups_per_second)
    with context.system.another_gateway("gateway-without-metrics", GATEWAY_WITHOUT_METRICS_APP) as gateway:
        metrics_off = run_wrk(context, upload.job_id, seconds, gateway)
    metrics_on.append(run_wrk(context, upload.job_id, seconds))
    with context.system.another_gateway("framework-floor", FRAMEWORK_FLOOR_APP) as gateway:
        floor = run_wrk(context, upload.job_id, seconds, gateway)
    metrics_on.append(run_wrk(context, upload.job_id, seconds))
    core_after = machine.reference_ms()
    costs = [_cost_per_request(run) for run in metrics_on]
    gateway_cpu = [_gateway_cpu(cost) for cost in costs]
    # The median run by the gateway's CPU per request; every figure below is that run's.
    median = sorted(range(len(metrics_on)), key=lambda index: gateway_cpu[index] or 0)[len(metrics_on) // 2]
    run = metrics_on[median]
    around_off = statistics.mean(each.requests_per_second for each in metrics_on[:2])
    return GatewayFigure(
        **vars(run), cpu_ms_per_request=costs[median], database_ceiling=ceiling,
        gateway_cpu_ms_per_request=gateway_cpu[median],
        share_of_database_ceiling=round(run.requests_per_second / ceiling.lookups_per_second, 3),
        metrics_off_requests_per_second=metrics_off.requests_per_second,
        metrics_off_latency_p99_ms=metrics_off.latency_p99_ms,
        metrics_on_requests_per_second_runs=[each.requests_per_second for each in metrics_on],
        metrics_on_over_off=round(around_off / metrics_off.requests_per_second, 3),
        gateway_cpu_ms_per_request_runs=gateway_cpu, core_reference_ms=(core_before, core_after),
        framework_floor_requests_per_second=floor.requests_per_second,
        framework_floor_cpu_ms_per_request=_gateway_cpu(_cost_per_request(floor)),
    )


def _gateway_cpu(cost):
    return next((each.cpu_ms for each in cost if each.id == "gateway"), None)


def _cost_per_request(run) -> list[RequestCost]:
    return [RequestCost(component.id, component.label, round(1000 * component.seconds / run.requests, 3))
            for component in run.cpu_seconds.components if component.seconds is not None and run.requests]


def database_ceiling(mongo_uri, job_id, seconds) -> DatabaseCeiling:
    """The most GET /jobs/<id> could reach here: the job read by _id straight from the
    MongoDB-protocol server by one client process per core, with no HTTP, token or JSON."""
    processes = os.cpu_count() or 1
    with concurrent.futures.ProcessPoolExecutor(processes) as pool:
        counts = list(pool.map(_lookups, [mongo_uri] * processes, [job_id] * processes, [seconds] * processes))
    return DatabaseCeiling(processes=processes, seconds=seconds, lookups_per_second=round(sum(counts) / seconds, 1))


def _lookups(mongo_uri, job_id, seconds):
    """How many times one process reads the job by _id in ``seconds`` (in a pool's process)."""
    client = storage.connect(mongo_uri)
    try:
        job_store = jobs.Jobs(client)
        job_store.get(job_id)  # connected before the clock starts
        count, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            job_store.get(job_id)
            count += 1
        return count
    finally:
        client.close()


def run_wrk(context, job_id, seconds, gateway=None) -> WrkRun:
    """wrk on GET /jobs/<id> of the system's gateway (or of ``gateway``, one of another_gateway's),
    with that gateway's CPU in the account."""
    plan = context.plan
    gateway = gateway or context.system.gateway
    script = context.scratch / "authorization.lua"
    script.write_text(WRK_LUA.format(token=context.user.token))
    address = urllib.parse.urlsplit(gateway.health_url)
    url = f"{address.scheme}://{address.netloc}/jobs/{job_id}"
    booted_before = _workers_booted(gateway)
    cpu = CpuAccount(context.system.cpu_components(gateway))
    cpu.start()
    output = subprocess.run(
        # --timeout: a slow answer (the gateway gives up on MongoDB after 5 s) counts in the
        # latency instead of vanishing as a wrk timeout.
        ["wrk", f"-t{plan.wrk_threads}", f"-c{plan.wrk_connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
         "-s", str(script), url],
        check=True, capture_output=True, text=True, timeout=seconds + 60,
    ).stdout
    run = WrkRun(**parse_wrk(output), seconds=seconds, threads=plan.wrk_threads, connections=plan.wrk_connections,
                 gateway_workers_started_during_run=_workers_booted(gateway) - booted_before,
                 cpu_seconds=cpu.stop())
    logger.info("%s: %.0f req/s, p99 %.1f ms", gateway.name, run.requests_per_second, run.latency_p99_ms)
    return run


def _workers_booted(gateway):
    # gunicorn logs each worker it starts; max_requests makes it replace workers under load.
    return sum("Booting worker" in line for line in gateway.log_lines())


def parse_wrk(output):
    """What wrk's --latency report says, as WrkRun's first fields."""
    def duration_ms(text):
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit], 3)

    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.MULTILINE))
    requests_line = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(requests_line.group(1)),
        "latency_p50_ms": duration_ms(percentiles["50"]),
        "latency_p90_ms": duration_ms(percentiles["90"]),
        "latency_p99_ms": duration_ms(percentiles["99"]),
        "non_2xx_responses": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }


def profile_miss(context, figures, results_dir) -> Finding:
    """The same wrk run again under py-spy on the gateway's master and workers, sampling the
    thread that holds the GIL: where the gateway's CPU per request goes, gunicorn's own share
    included. The CPU account of the measured run says what the rest of the machine (the
    MongoDB-protocol server, wrk) did."""
    gateway = figures.gateway
    if isinstance(gateway, Failed):
        return Finding(notes=[gateway.error])
    stem = results_dir / "profile-gateway-get-job"
    recording = profiles.Recording.of_pid(context.system.gateway.pid, stem.with_suffix(".folded.txt"), gil=True,
                                          subprocesses=True)
    time.sleep(1)  # py-spy attaches
    try:
        rerun = run_wrk(context, context.gateway_job_id, context.plan.wrk_seconds)
    finally:
        folded = recording.stop()
    profiles.render_flame_graph(folded, stem.with_suffix(".svg"),
                                "gateway under wrk, GET /jobs/<id>: CPU (samples holding the GIL)")
    return Finding(
        profiles={"gateway": profiles.summarize(folded)},
        files=[stem.with_suffix(".svg").name, folded.name],
        notes=[
            f"Under the profiler: {rerun.requests_per_second:.0f} req/s, p99 {rerun.latency_p99_ms} ms, "
            f"{rerun.non_2xx_responses} non-2xx.",
            f"CPU during the measured {gateway.seconds} s run: "
            + ", ".join(f"{label} {cpu_seconds_shown(seconds)}" for label, seconds in gateway.cpu_seconds.labelled())
            + ".",
            f"gunicorn started {gateway.gateway_workers_started_during_run} new worker(s) during the measured run "
            "(max_requests recycling).",
            *_ceiling_notes(gateway),
            *_floor_notes(gateway),
            f"With metrics off (bench/gateway_without_metrics.py, the same gunicorn config): "
            f"{gateway.metrics_off_requests_per_second:.0f} req/s, p99 {gateway.metrics_off_latency_p99_ms} ms; "
            f"with them on, {gateway.metrics_on_requests_per_second_runs[0]:.0f} req/s before it and "
            f"{gateway.metrics_on_requests_per_second_runs[1]:.0f} after, on average {gateway.metrics_on_over_off:.1%} "
            "of it.",
        ],
    )


def _ceiling_notes(gateway):
    if not gateway.cpu_ms_per_request:
        return []
    ceiling = gateway.database_ceiling
    database = next((cost.cpu_ms for cost in gateway.cpu_ms_per_request if cost.id == "mongo"), None)
    notes = ["CPU per request (ms): "
             + ", ".join(f"{cost.label} {cost.cpu_ms:.2f}" for cost in gateway.cpu_ms_per_request) + "."]
    if database:
        notes.append(f"At {database:.2f} ms of the MongoDB-protocol server's CPU per lookup, the database alone "
                     f"would keep all {os.cpu_count()} cores busy at {1000 * os.cpu_count() / database:.0f} "
                     "requests/s.")
    notes.append(f"Ceiling: {ceiling.processes} processes reading the job by _id straight from the database, with "
                 f"no HTTP at all, made {ceiling.lookups_per_second:.0f} lookups/s; the gateway served "
                 f"{gateway.share_of_database_ceiling:.0%} of that.")
    return notes


def _floor_notes(gateway):
    floor, own = gateway.framework_floor_cpu_ms_per_request, gateway.gateway_cpu_ms_per_request
    if floor is None or own is None:
        return []
    return [f"The framework floor (bench/framework_floor.py: the same gunicorn config, Flask and pymongo, one "
            f"find_one by _id and the same JSON, none of the gateway's code) took {floor:.2f} ms of its CPU per "
            f"request at {gateway.framework_floor_requests_per_second:.0f} req/s: the gateway's own code costs "
            f"{own - floor:.2f} ms of its {own:.2f} ms."]
