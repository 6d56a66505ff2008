"""The bench's output: results.json (every figure), results.md (tables, targets, findings, machine)
and chart.png (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from bench.context import Failed
from bench.figures.end_to_end import Split
from bench.figures.store import LOOKUP_DOCUMENTS
from bench.job_profile import JobProfile
from bench.jobs import PROCESS_LABELS

if TYPE_CHECKING:
    from bench.corpus import CorpusVideo
    from bench.figures import Figures
    from bench.findings import Finding
    from bench.machine import Machine
    from bench.targets import Judgement

SPLIT_STEPS = tuple(step.name for step in dataclasses.fields(Split))


@dataclasses.dataclass(frozen=True)
class Results:
    """Everything a run found, as results.json holds it."""

    mode: str
    machine: Machine
    servers: dict[str, str]  # "mongodb", "broker": what each server says it is, and whose it is
    corpus: dict[str, CorpusVideo]
    figures: Figures
    targets: list[Judgement]
    findings: dict[str, Finding | Failed]

    def to_json(self):
        document = dataclasses.asdict(self)
        # A figure not measured in this run (`--only`) is left out, not written as null.
        document["figures"] = {name: value for name, value in document["figures"].items() if value is not None}
        return document


def write(results_dir: Path, *, plan, machine, servers, corpus, figures, judgements, findings):
    results = Results(mode=plan.mode, machine=machine, servers=servers, corpus=corpus, figures=figures,
                      targets=judgements, findings=findings)
    (results_dir / "results.json").write_text(json.dumps(results.to_json(), indent=2, default=str) + "\n")
    chart_written = _attempt_chart(results_dir / "chart.png", plan, figures, judgements)
    (results_dir / "results.md").write_text(markdown(results, plan, chart_written))


def _number(value, digits=2, unit=""):
    if value is None:
        return "-"
    return f"{value:.{digits}f}{unit}"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results, plan, chart_written):
    machine, figures = results.machine, results.figures
    load_start = ", ".join(f"{value:.2f}" for value in machine.load_average_start)
    load_end = ", ".join(f"{value:.2f}" for value in machine.load_average_end)
    out = [
        "# Benchmark results",
        "",
        f"`make bench` ({plan.mode} run), {machine.date}, {machine.bench_seconds:.0f} s including corpus "
        f"generation. Machine: {machine.cpu_model}, nproc {machine.nproc}, {machine.memory_gb} GB, "
        f"Linux {machine.kernel}, Python {machine.python}, {machine.ffmpeg}. "
        f"Code: commit {machine.commit} with {machine.files_changed_since_commit} tracked files changed.",
        "",
        f"**Servers**: MongoDB-protocol server {results.servers.get('mongodb', '(not started)')}; "
        f"broker {results.servers.get('broker', '(not started)')}.",
        "",
        f"**Load average at the start: {load_start}** (1, 5, 15 min); at the end: {load_end}. Other engineers' "
        "tests share these two cores, so the figures carry that noise; the convert step alternates its "
        "two sides to spread it evenly.",
        "",
        f"**Speed of one core**: a fixed piece of pure-Python work (bench/machine.py) took "
        f"{machine.reference_ms_start} ms of CPU at the start and {machine.reference_ms_end} ms at the end; the "
        f"hypervisor took {machine.steal_seconds} s of CPU from this machine during the run (steal). Every CPU "
        "figure below moves with the first two: compare them before comparing two runs.",
        "",
    ]
    if plan.mode == "smoke":
        out += ["**Smoke run**: the smallest file stands in for every file and the batches are tiny. "
                "These figures test the bench, not the system.", ""]

    out += ["## Targets", "", _table(
        ["target", "figure", "target", "verdict", "by how much"],
        [[t.title, t.shown, t.target_shown, f"**{t.verdict}**", t.margin] for t in results.targets],
    ), ""]
    if chart_written:
        out += ["![chart](chart.png)", ""]

    out += _store_section(figures.store)
    out += _convert_section(figures.convert, results.corpus)
    out += _end_to_end_section(figures.end_to_end)
    out += _memory_section(figures.memory)
    out += _throughput_section(figures.throughput)
    out += _gateway_section(figures.gateway)
    out += _findings_section(results.findings, results.targets)
    return "\n".join(out) + "\n"


def _error_lines(figure):
    return [f"Not measured: `{figure.error}`", ""] if isinstance(figure, Failed) else []


def _measured(figure):
    """The figure, or None when it failed or was not measured."""
    return None if isinstance(figure, Failed) else figure


def _store_section(store):
    out = ["## The store", "",
           "What the MongoDB-protocol server named above does on its own, measured first, on an empty server, in a "
           "database of the bench's own (bench/figures/store.py): read every other figure against it.", ""]
    out += _error_lines(store)
    store = _measured(store)
    if store is None:
        return out
    out += [_table(
        ["GridFS write (MB/s)", "GridFS read, 1 file stored (MB/s)",
         f"GridFS read, {store.files_in_full_bucket} files stored (MB/s)",
         f"GridFS delete of one, {store.files_in_full_bucket} stored (s)", "lookups/s by `_id`",
         "lookups/s by an indexed field", f"`$inc` on one counter by {store.concurrent_clients} clients",
         f"conditional claims by {store.concurrent_clients} clients"],
        [[_number(store.write_mb_per_second, 1), _number(store.read_mb_per_second_one_file, 1),
          _number(store.read_mb_per_second_full_bucket, 1), _number(store.delete_seconds_full_bucket, 2),
          _number(store.lookups_per_second_by_id, 0),
          _number(store.lookups_per_second_by_indexed_field, 0),
          f"{store.increments_applied} of {store.increments_expected} applied",
          f"{store.claims_won} winners for {store.claims_expected} jobs"]]), "",
        f"Files of {store.file_mb} MB of random bytes, written with mp3common.storage and read with its "
        "batched reader (as the services move videos); a read is timed with the file alone in the bucket, "
        f"then with {store.files_in_full_bucket - 1} more stored, and deleted from there. Lookups: `find_one` "
        f"from one client on a collection of {LOOKUP_DOCUMENTS:,} job-sized documents. The last two columns "
        "are lost updates: each client sends its `$inc` at once, or races the others to move every queued "
        "document to claimed with `find_one_and_update` (as converters claim a job); a server that applies "
        "each update atomically applies them all and has one winner per job.", ""]
    return out


def _convert_section(convert, corpus):
    out = ["## 1. Convert step", "",
           "`mp3common.media.extract_mp3` on a local file (ffmpeg with progress on a pipe, given the MediaInfo "
           "the gateway's ffprobe kept in the job, as the converter runs it) against bare "
           "`ffmpeg -i FILE -map 0:a:0 -vn -c:a libmp3lame -q:a 2 -ar 44100 -ac 2`. "
           "Medians; the two sides alternate.", ""]
    out += _error_lines(convert)
    rows = []
    for name, figure in (_measured(convert) or {}).items():
        video = corpus.get(name)
        rows.append([name, video.description if video else "", _number(video.size_mb if video else None, 0, " MB"),
                     figure.iterations, _number(figure.bare_ffmpeg_seconds, 3), _number(figure.converter_seconds, 3),
                     _number(figure.ffprobe_seconds, 3), f"**{_number(figure.ratio, 3, 'x')}**",
                     _number(figure.bare_ffmpeg_cpu_seconds, 3), _number(figure.converter_cpu_seconds, 3),
                     _number(figure.cpu_ratio, 3, "x")])
    if rows:
        out += [_table(["file", "what", "size", "runs", "bare ffmpeg (s)", "converter (s)", "ffprobe alone (s)",
                        "ratio", "bare ffmpeg CPU (s)", "converter CPU (s)", "CPU ratio"], rows), "",
                "CPU: user + system time of the child processes (ffmpeg on both sides), "
                "which load from elsewhere on the machine does not inflate the way it does wall time.", ""]
    return out


def _end_to_end_section(end_to_end):
    out = ["## 2. End to end", "",
           "From the first byte of the upload to the email in the SMTP sink. The split comes from the job's step "
           "timestamps (GET /jobs/<id>: uploaded, picked_up, converted, stored, notified) and the client's clock: "
           "upload = start -> `uploaded` (body sent, ffprobe, GridFS write, job insert); queue wait = `uploaded` -> "
           "`picked_up`; store = `converted` -> `stored` (the MP3 written to GridFS); notify = `stored` -> email "
           "(job marked done, `mp3` message, the notification service's SMTP send; the converter deletes the "
           "source video after the message). **The fetch from GridFS has no "
           "timestamp of its own**: the bench times a GridFS read of the same file itself, and convert is "
           "`picked_up` -> `converted` less that read. The baseline is bare ffmpeg plus one GridFS write of the "
           "file (mp3common.storage, as the gateway writes), measured in the same run.", ""]
    out += _error_lines(end_to_end)
    end_to_end = _measured(end_to_end) or {}
    rows = []
    for name, figure in end_to_end.items():
        split = figure.split_seconds
        rows.append([name, _number(figure.total_seconds, 1), _number(figure.ratio_to_bare_ffmpeg, 2, "x"),
                     *(_number(getattr(split, step), 2) for step in SPLIT_STEPS),
                     _number(figure.gridfs_write_seconds, 2), _number(figure.baseline_seconds, 1),
                     _number(figure.ratio_to_baseline, 2, "x"), figure.mp3_check or figure.error or "-"])
    if rows:
        out += [_table(["file", "total (s)", "/ bare ffmpeg", "upload", "queue wait", "fetch*", "convert", "store",
                        "notify", "GridFS write (s)", "baseline (s)", "/ baseline", "MP3 / error"], rows), ""]
        out += ["\\* fetch: a GridFS read of the same file timed by the bench, not a step of the job.", ""]
        out += ["The upload, from the client's side: when its last byte left, and when the 202 came back.", "",
                _table(["file", "body sent (s)", "body sent -> `uploaded` (s)", "202 received (s)"],
                       [[name, _number(figure.upload_body_sent_seconds, 2),
                         _number(figure.upload_after_body_seconds, 2), _number(figure.accepted_seconds, 2)]
                        for name, figure in end_to_end.items()]), ""]
        for name, figure in end_to_end.items():
            if figure.gridfs_read_error:
                out += [f"- {name}: the bench's own GridFS read of the file failed: `{figure.gridfs_read_error}`"]
        out += [""]
    return out


def _memory_section(memory):
    out = ["## 3. Memory", "",
           "Peak RSS sampled every 50 ms (psutil) during the end-to-end runs: the gunicorn worker (the largest of "
           "the workers, never the master) and the converter; \"with children\" adds, at the same instant, the "
           "ffprobe/ffmpeg they run, as a container's limit would count them.", ""]
    out += _error_lines(memory)
    memory = _measured(memory)
    rows = []
    for name, per_file in (memory.files if memory else {}).items():
        for process, label in PROCESS_LABELS.items():
            sample = getattr(per_file, process)
            completed = "yes" if per_file.job_completed else "no"
            if sample is None:  # no sample of the process during the run
                rows.append([name, label, "-", "-", "-", "-", "-", completed])
                continue
            rows.append([name, label, _number(sample.idle_mb, 1), _number(sample.peak_mb, 1), sample.peak_phase,
                         _number(sample.peak_with_children_mb, 1), sample.peak_with_children_phase, completed])
    if rows:
        out += [_table(["file", "process", "idle (MB)", "peak (MB)", "during", "peak with children (MB)", "during",
                        "job completed"], rows), ""]
    return out


def _throughput_section(throughput):
    out = ["## 4. Throughput", ""]
    out += _error_lines(throughput)
    throughput = _measured(throughput)
    if throughput is None:
        return out
    out += [f"{throughput.uploads} uploads of the {throughput.file} file from {throughput.clients} concurrent "
            "clients; latency is upload start -> email.", ""]
    rows = [[converters, run.jobs_done, run.upload_errors, run.jobs_lost, run.messages_purged,
             _number(run.wall_seconds, 1), _number(run.jobs_per_minute, 1), _number(run.limit_jobs_per_minute, 1),
             f"**{_number(run.share_of_limit and 100 * run.share_of_limit, 0, '%')}**",
             _number(run.latency_p50_seconds, 2), _number(run.latency_p95_seconds, 2)]
            for converters, run in throughput.runs.items()]
    limit = throughput.limit
    out += [_table(["converters", "jobs done", "upload errors", "not done by the deadline", "purged from the queue",
                    "wall (s)", "jobs/min", "limit (jobs/min)", "share of the limit", "p50 (s)", "p95 (s)"], rows), "",
            "Jobs per minute and latencies count the jobs whose email came before the batch's deadline "
            "(60 s + 8 s per upload after the last upload); the jobs still queued then are purged, so the next "
            "batch starts on an empty queue.", "",
            f"The limit the machine sets, measured in this run: bare ffmpeg {_number(limit.bare_ffmpeg_seconds, 3)} s "
            f"on the clip, plus the store's own write ({_number(limit.store_write_seconds, 3)} s) and read "
            f"({_number(limit.store_read_seconds, 3)} s) of it into an empty bucket, is "
            f"{_number(limit.jobs_per_minute_per_converter, 1)} jobs/min per converter, with one converter per core "
            "at most.", "",
            f"Speed-up with 2 converters: **{throughput.speedup:.2f}x**.", "",
            "Where a job's time went, mean seconds per job of the batch: the client's clock, the job's step "
            "timestamps, the email's arrival, and the converter's log for what no timestamp marks "
            "(bench/job_profile.py). Upload and probe + save run in the gateway; queue while the job waits; "
            "fetch to announce + delete in the converter, one job at a time; email alongside announce + delete; "
            "next job is the converter's gap between finishing one job and claiming the next one already queued.",
            "", _table(["converters", "jobs", *(step.replace("_", " ") for step in JobProfile.steps())],
                       [[converters, run.profile.jobs, *(_number(getattr(run.profile, step), 3)
                                                        for step in JobProfile.steps())]
                        for converters, run in throughput.runs.items()]), "",
            "CPU seconds during each run (psutil; children such as ffmpeg count with their parent):", ""]
    labels = [label for label, _ in next(iter(throughput.runs.values())).cpu_seconds.labelled()]
    out += [_table(["converters", *labels],
                   [[converters, *(_number(seconds, 1) for _, seconds in run.cpu_seconds.labelled())]
                    for converters, run in throughput.runs.items()]), ""]
    return out


def _gateway_section(gateway):
    out = ["## 5. Gateway", ""]
    out += _error_lines(gateway)
    gateway = _measured(gateway)
    if gateway is None:
        return out
    out += [f"wrk on loopback, {gateway.threads} threads, {gateway.connections} connections, "
            f"{gateway.seconds} s, authenticated `GET /jobs/<id>` (gunicorn gevent as configured in "
            "gateway/gunicorn.conf.py).", "",
            _table(["req/s", "requests", "p50 (ms)", "p90 (ms)", "p99 (ms)", "non-2xx", "socket errors",
                    "workers started during the run"],
                   [[_number(gateway.requests_per_second, 0), gateway.requests,
                     _number(gateway.latency_p50_ms, 1), _number(gateway.latency_p90_ms, 1),
                     _number(gateway.latency_p99_ms, 1), gateway.non_2xx_responses, gateway.socket_errors,
                     gateway.gateway_workers_started_during_run]]), ""]
    if gateway.cpu_ms_per_request:
        out += ["CPU per request during the run (ms): "
                + ", ".join(f"{cost.label} {cost.cpu_ms:.2f}" for cost in gateway.cpu_ms_per_request) + ".", ""]
    runs = ", ".join(_number(each, 3) for each in gateway.gateway_cpu_ms_per_request_runs)
    before, after = gateway.core_reference_ms
    out += [f"The run above is the median of {len(gateway.gateway_cpu_ms_per_request_runs)} runs with metrics on, "
            f"by the gateway's CPU per request: **{runs} ms**, in the order they ran. One core took {before} ms for "
            f"bench/machine.py's fixed work before the first and {after} ms after the last: read a figure of another "
            "run against its own core time.", ""]
    floor = gateway.framework_floor_cpu_ms_per_request
    if floor is not None and gateway.gateway_cpu_ms_per_request is not None:
        own = gateway.gateway_cpu_ms_per_request
        out += [f"The framework floor, between the last two runs: the same wrk run on bench/framework_floor.py, "
                "served with the gateway's gunicorn config (gevent, the access line) by a Flask app that reads the "
                "job by `_id` with pymongo and answers the same JSON, with none of the gateway's code (no token, "
                f"ownership, request id, headers or metrics): {_number(gateway.framework_floor_requests_per_second, 0)}"
                f" req/s at **{_number(floor, 3)} ms** of its CPU per request. Of the gateway's {_number(own, 3)} ms, "
                f"the frameworks take that much and the project's code **{_number(own - floor, 3)} ms**.", ""]
    ceiling = gateway.database_ceiling
    out += [f"The ceiling, measured right after: the same job read by `_id` straight from the MongoDB-protocol "
            f"server by {ceiling.processes} client processes (one per core), no HTTP, token or JSON: "
            f"**{_number(ceiling.lookups_per_second, 0)} lookups/s**; the gateway served "
            f"**{_number(100 * gateway.share_of_database_ceiling, 0, '%')}** of it.", "",
            f"The same wrk run on the gateway with metrics off (bench/gateway_without_metrics.py: "
            "`instrument_flask` a no-op, the same gunicorn config): "
            f"{_number(gateway.metrics_off_requests_per_second, 0)} req/s, p99 "
            f"{_number(gateway.metrics_off_latency_p99_ms, 1)} ms, between the first two runs with metrics "
            f"on ({' and '.join(_number(each, 0) for each in gateway.metrics_on_requests_per_second_runs[:2])} req/s); "
            "with metrics on, on average "
            f"**{_number(100 * gateway.metrics_on_over_off, 1, '%')}** of that.", "",
            "The gateway's targets are those of the issue \"A lean request path and a bench that tells the whole "
            "truth\": its CPU per request, its share of the database's ceiling and the cost of its metrics, all "
            "ratios within this run. They replace the fixed 1,000 req/s of \"Fast, bounded, measured\", a rate "
            "that says as much about the database under the gateway as about the gateway.", ""]
    return out


def _findings_section(findings, targets):
    if not findings:
        return []
    titles = {target.id: target.title for target in targets}
    out = ["## Profiles of the misses", "",
           "Each finding below comes from a measurement taken for it: py-spy profiles (100 samples/s; the raw "
           "`.folded.txt` opens in speedscope or flamegraph.pl, the `.svg` is a flame graph of the same samples; "
           "results.json also lists the functions present in the most samples), the RSS timeline, or the CPU "
           "account of the run.", ""]
    # Targets that share a profiler share its finding: one section, headed by all of them.
    sections = []
    for target_id, finding in findings.items():
        shared = next((section for section in sections if section[0] == finding), None)
        if shared is None:
            sections.append((finding, [titles.get(target_id, target_id)]))
        else:
            shared[1].append(titles.get(target_id, target_id))
    for finding, section_titles in sections:
        out += [f"### {'; '.join(section_titles)}", ""]
        if isinstance(finding, Failed):
            out += [f"Profiling failed: `{finding.error}`", ""]
            continue
        out += [f"- {note}" for note in finding.notes]
        for part, summary in finding.profiles.items():
            # The part is named only where one finding profiled several processes.
            out += _profile_lines(part if len(finding.profiles) > 1 else "", summary)
        if finding.files:
            out += ["- Files: " + ", ".join(f"[{name}]({name})" for name in finding.files)]
        out += [""]
    return out


def _profile_lines(part, summary):
    root = summary.get("root")
    scope = f"inside `{root[0]}()` ({root[1]})" if root else "all samples"
    prefix = f"{part}: " if part else ""
    if not summary.get("samples"):
        return [f"- {prefix}no samples {scope}"]

    def listed(key, count=6):
        return ", ".join(f"{item['what']} {item['percent']}%" for item in summary[key][:count]) or "-"

    tree = [f"{'  ' * (entry['depth'] + 2)}- {entry['what']}: {entry['percent']}%"
            for entry in summary.get("project_call_tree", [])]
    return [
        f"- {prefix}{summary['samples']} samples, {scope}.",
        "  - The project's functions below it (share of those samples; library frames between them skipped):",
        *tree,
        f"  - Where the samples end (self time) by package: {listed('self_by_package')}.",
        f"  - ... and by function: {listed('self_by_function', 4)}.",
    ]


def _attempt_chart(path, plan, figures, judgements):
    try:
        draw_chart(path, plan, figures, judgements)
        return True
    except Exception as error:  # noqa: BLE001 - the tables stand without the chart
        print(f"[bench] chart not drawn: {error!r}")
        return False


def draw_chart(path, plan, figures, judgements):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limits = {judgement.id: judgement.limit for judgement in judgements}
    figure, axes = plt.subplots(2, 3, figsize=(16, 9))
    figure.suptitle(f"make bench ({plan.mode} run)")

    convert = _measured(figures.convert) or {}
    end_to_end = _measured(figures.end_to_end) or {}

    ratios = axes[0][0]
    names = list(convert)
    ratios.bar([f"{name}\nconvert" for name in names], [convert[name].ratio for name in names], color="tab:blue")
    convert_limit = limits[f"convert_{plan.files[0]}"]
    ratios.axhline(convert_limit, color="tab:red", linestyle="--", label=f"target {convert_limit:g}x")
    target_name = plan.target_file
    if target_name in end_to_end and end_to_end[target_name].ratio_to_baseline:
        end_to_end_limit = limits[f"end_to_end_{target_name}"]
        ratios.bar([f"{target_name}\nend to end"], [end_to_end[target_name].ratio_to_baseline], color="tab:orange")
        ratios.axhline(end_to_end_limit, color="tab:orange", linestyle=":",
                       label=f"target {end_to_end_limit:g}x (end to end / baseline)")
    ratios.set_title("Ratios to bare ffmpeg (+ GridFS write)")
    ratios.legend(fontsize=7)

    split = axes[0][1]
    bottoms = [0.0] * len(end_to_end)
    labels = list(end_to_end)
    for step in SPLIT_STEPS:
        values = [getattr(end_to_end[name].split_seconds, step) or 0 for name in labels]
        split.bar(labels, values, bottom=bottoms, label=step.replace("_", " "))
        bottoms = [bottom + value for bottom, value in zip(bottoms, values, strict=True)]
    split.set_yscale("symlog", linthresh=1)
    split.set_ylabel("seconds")
    split.set_title("End to end: where the time goes")
    split.legend(fontsize=7)

    memory_axes = axes[0][2]
    memory = _measured(figures.memory)
    bars, values = [], []
    for name, per_file in (memory.files if memory else {}).items():
        for process, label in PROCESS_LABELS.items():
            sample = getattr(per_file, process)
            bars.append(f"{label}\n{name}")
            values.append((sample and sample.peak_with_children_mb) or 0)
    memory_axes.bar(bars, values, color="tab:green")
    peak_limit = limits["memory_gateway_worker_peak"]
    memory_axes.axhline(peak_limit, color="tab:red", linestyle="--", label=f"target {peak_limit:g} MB")
    memory_axes.set_title("Peak RSS with children (MB)")
    memory_axes.tick_params(axis="x", labelsize=7)
    memory_axes.legend(fontsize=7)

    throughput = _measured(figures.throughput)
    runs = throughput.runs if throughput else {}
    jobs = axes[1][0]
    jobs.bar([f"{converters} converter(s)" for converters in runs], [run.jobs_per_minute for run in runs.values()],
             color="tab:purple")
    if "1" in runs:
        speedup_limit = limits["throughput_speedup"]
        jobs.axhline(speedup_limit * runs["1"].jobs_per_minute, color="tab:red", linestyle="--",
                     label=f"target: {speedup_limit:g}x of 1")
        jobs.legend(fontsize=7)
    jobs.set_title("Throughput (jobs/min)")

    latency = axes[1][1]
    positions = range(len(runs))
    latency.bar([position - 0.2 for position in positions], [run.latency_p50_seconds for run in runs.values()],
                width=0.4, label="p50")
    latency.bar([position + 0.2 for position in positions], [run.latency_p95_seconds for run in runs.values()],
                width=0.4, label="p95")
    latency.set_xticks(list(positions), [f"{converters} converter(s)" for converters in runs])
    latency.set_title("Upload-to-email latency (s)")
    latency.legend(fontsize=7)

    gateway_axes = axes[1][2]
    gateway = _measured(figures.gateway)
    if gateway is not None:
        share_limit = limits["gateway_share_of_database_ceiling"]
        gateway_axes.bar(["GET /jobs/<id>", "metrics off", "database alone"],
                         [gateway.requests_per_second, gateway.metrics_off_requests_per_second,
                          gateway.database_ceiling.lookups_per_second], color=["tab:cyan", "tab:gray", "tab:olive"])
        gateway_axes.axhline(share_limit * gateway.database_ceiling.lookups_per_second, color="tab:red",
                             linestyle="--", label=f"target {share_limit:g}x of the database alone")
        gateway_axes.legend(fontsize=7)
        gateway_axes.set_title(f"Gateway req/s (p99 {gateway.latency_p99_ms:.0f} ms)")

    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
