"""The benchmark keeps working: `bench/run.sh --smoke` runs every measurement on the smallest file
and writes results.json, results.md and chart.png with every figure as a number.

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
# The smoke run takes about a minute and a half on two busy cores; this only bounds a hang.
SMOKE_TIMEOUT_SECONDS = 280

# Every figure results.json must hold, as a path of keys to a number.
FIGURES = {
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
        ("memory", "files", SMALLEST, component, value)
        for component in ("gateway worker", "converter")
        for value in ("idle_mb", "peak_mb", "peak_with_children_mb")
    ] + [("memory", "gateway worker large/small"), ("memory", "converter large/small")],
    "throughput": [
        ("throughput", "speedup"),
        *[("throughput", "runs", converters, value)
          for converters in ("1", "2")
          for value in ("jobs_per_minute", "latency_p50_seconds", "latency_p95_seconds", "wall_seconds")],
    ],
    "gateway": [
        ("gateway", "requests_per_second"),
        ("gateway", "latency_p50_ms"),
        ("gateway", "latency_p99_ms"),
    ],
}


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """Run the smoke bench once into a directory of its own; return that directory."""
    results_dir = tmp_path_factory.mktemp("bench-results")
    completed = subprocess.run(
        ["bash", str(REPO / "bench" / "run.sh"), "--smoke", "--results-dir", str(results_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=SMOKE_TIMEOUT_SECONDS,
    )
    assert completed.returncode == 0, f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
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

    assert len(results["targets"]) == 8
    for target in results["targets"]:
        assert target["verdict"] in ("PASS", "MISS")
        assert isinstance(target["value"], (int, float)), target
    for target in results["targets"]:
        if target["verdict"] == "MISS":
            assert "error" not in results["findings"][target["id"]], results["findings"][target["id"]]
    report = (smoke_results / "results.md").read_text()
    assert report.startswith("# Benchmark results")
    assert "Load average at the start" in report
    assert (smoke_results / "chart.png").read_bytes().startswith(b"\x89PNG")
