"""The benchmark keeps working: `bench/run.sh --smoke` runs every measurement on the smallest file
and writes results.json, results.md and chart.png with every figure as a number. With
`--profile-all` it also profiles every target as if it were missed, so each figure's profiler
(bench/figures/*.py) runs too.

The figures are not compared with the targets here: a smoke run is one tiny sample on a machine
other tests share, and says nothing about speed. `make bench` is where the targets are judged.
"""
import json
import math
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMALLEST = "30s"
# The smoke run, every target profiled, takes two to four minutes on two busy cores (the
# corpus's first video included); this only bounds a hang.
SMOKE_TIMEOUT_SECONDS = 600

# Every figure results.json must hold, as a path of keys to a number.
FIGURES = {
    "store": [
        ("store", value) for value in (
            "write_mb_per_second", "read_mb_per_second_one_file", "read_mb_per_second_full_bucket",
            "delete_seconds_full_bucket",
            "lookups_per_second_by_id", "lookups_per_second_by_indexed_field",
            "increments_expected", "increments_applied", "claims_expected", "claims_won")
    ],
    "convert step": [
        ("convert", SMALLEST, "bare_ffmpeg_seconds"),
        ("convert", SMALLEST, "converter_seconds"),
        ("convert", SMALLEST, "ffprobe_seconds"),
        ("convert", SMALLEST, "ratio"),
    ],
    "end to end": [
        ("end_to_end", SMALLEST, "total_seconds"),
        ("end_to_end", SMALLEST, "ratio_to_bare_ffmpeg"),
        ("end_to_end", SMALLEST, "gridfs_write_seconds"),
        ("end_to_end", SMALLEST, "gridfs_read_seconds"),
        ("end_to_end", SMALLEST, "baseline_seconds"),
        ("end_to_end", SMALLEST, "ratio_to_baseline"),
        *[("end_to_end", SMALLEST, "split_seconds", step)
          for step in ("upload", "queue_wait", "fetch_from_gridfs", "convert", "store", "notify")],
    ],
    "memory": [
        ("memory", "files", SMALLEST, process, value)
        for process in ("gateway_worker", "converter")
        for value in ("idle_mb", "peak_mb", "peak_with_children_mb")
    ] + [("memory", "gateway_worker_large_over_small"), ("memory", "converter_large_over_small")],
    "throughput": [
        ("throughput", "speedup"),
        *[("throughput", "runs", converters, value)
          for converters in ("1", "2")
          for value in ("jobs_per_minute", "latency_p50_seconds", "latency_p95_seconds", "wall_seconds",
                        "limit_jobs_per_minute", "share_of_limit")],
        *[("throughput", "limit", value)
          for value in ("bare_ffmpeg_seconds", "store_write_seconds", "store_read_seconds",
                        "jobs_per_minute_per_converter")],
        # Every step of the path but the gap between jobs, which a tiny batch may not have.
        *[("throughput", "runs", "1", "profile", step)
          for step in ("upload", "probe_and_save", "queue", "fetch", "convert", "store", "announce_and_delete",
                       "email")],
    ],
    "gateway": [
        ("gateway", "requests_per_second"),
        ("gateway", "latency_p50_ms"),
        ("gateway", "latency_p99_ms"),
        ("gateway", "database_ceiling", "lookups_per_second"),
        ("gateway", "gateway_cpu_ms_per_request"),
        ("gateway", "share_of_database_ceiling"),
        ("gateway", "metrics_off_requests_per_second"),
        # Each of the three metrics-on runs, and one core's speed before and after them.
        *[("gateway", runs, index) for index in range(3)
          for runs in ("metrics_on_requests_per_second_runs", "gateway_cpu_ms_per_request_runs")],
        ("gateway", "core_reference_ms", 0),
        ("gateway", "core_reference_ms", 1),
        ("gateway", "framework_floor_requests_per_second"),
        ("gateway", "framework_floor_cpu_ms_per_request"),
        ("gateway", "metrics_on_over_off"),
    ],
}


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """Run the smoke bench once into a directory of its own; return that directory."""
    results_dir = tmp_path_factory.mktemp("bench-results")
    bench = subprocess.Popen(
        ["bash", str(REPO / "bench" / "run.sh"), "--smoke", "--profile-all", "--results-dir", str(results_dir)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        output, _ = bench.communicate(timeout=SMOKE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        # SIGTERM, not subprocess.run's SIGKILL: the bench then stops the services it started.
        bench.terminate()
        output, _ = bench.communicate(timeout=60)
        pytest.fail(f"the smoke bench took over {SMOKE_TIMEOUT_SECONDS} s:\n{output[-4000:]}")
    assert bench.returncode == 0, output[-8000:]
    return results_dir


def figure_at(results, path):
    value = results["figures"]
    for key in path:
        value = value[key]
    return value


@pytest.mark.parametrize("figure", FIGURES)
def test_the_smoke_bench_reports_each_figure_as_a_number(smoke_results, figure):
    results = json.loads((smoke_results / "results.json").read_text())

    assert "error" not in results["figures"][figure.replace(" step", "").replace(" ", "_")]
    for path in FIGURES[figure]:
        value = figure_at(results, path)
        assert isinstance(value, (int, float)) and math.isfinite(value), (path, value)


def test_the_smoke_bench_converts_what_it_uploads(smoke_results):
    results = json.loads((smoke_results / "results.json").read_text())

    end_to_end = results["figures"]["end_to_end"][SMALLEST]
    assert end_to_end["ok"], end_to_end["error"]
    assert end_to_end["mp3_check"] == "ok"
    for run in results["figures"]["throughput"]["runs"].values():
        assert run["jobs_done"] == results["figures"]["throughput"]["uploads"]


def test_the_smoke_bench_judges_every_target_and_writes_its_report(smoke_results):
    results = json.loads((smoke_results / "results.json").read_text())

    assert len(results["targets"]) == 10
    for target in results["targets"]:
        assert target["verdict"] in ("PASS", "MISS")
        assert isinstance(target["value"], (int, float)), target
    report = (smoke_results / "results.md").read_text()
    assert report.startswith("# Benchmark results")
    assert "Load average at the start" in report
    assert "## The store" in report
    assert results["servers"]["mongodb"].startswith(("FerretDB", "MongoDB")), results["servers"]
    assert results["servers"]["broker"].startswith("RabbitMQ"), results["servers"]
    assert (smoke_results / "chart.png").read_bytes().startswith(b"\x89PNG")


def test_the_smoke_bench_profiles_every_target_into_the_files_it_lists(smoke_results):
    results = json.loads((smoke_results / "results.json").read_text())

    assert set(results["findings"]) == {target["id"] for target in results["targets"]}
    for target_id, finding in results["findings"].items():
        assert "error" not in finding, (target_id, finding)
        assert finding["notes"], target_id
        for name in finding["files"]:
            assert (smoke_results / name).stat().st_size > 0, (target_id, name)
        for summary in finding["profiles"].values():
            assert summary["samples"] > 0, (target_id, summary)
    # The profilers that run py-spy: the convert step, end to end (gateway and converter), the gateway.
    profiled = {target_id: set(finding["profiles"]) for target_id, finding in results["findings"].items()}
    assert profiled[f"convert_{SMALLEST}"] == {"convert"}
    assert profiled[f"end_to_end_{SMALLEST}"] == {"gateway", "converter"}
    for target_id in ("gateway_cpu_ms_per_request", "gateway_share_of_database_ceiling",
                      "gateway_metrics_on_over_off"):
        assert profiled[target_id] == {"gateway"}
    assert [int(queued) for queued in results["findings"]["throughput_speedup"]["gridfs_reads"]] == [0, 2]
