"""The targets of the tracker issues "Fast, bounded, measured" and "A lean request path and a
bench that tells the whole truth", in one table: what each one reads
from the figures, its limit and unit, and how a miss of it is profiled; then each judged,
PASS or MISS, and by how much."""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from bench import corpus
from bench.context import Failed
from bench.figures import Figures, convert, end_to_end, gateway, memory, throughput
from bench.jobs import PROCESS_LABELS


@dataclass(frozen=True)
class Reading:
    """A target's figure, or why there is none."""

    value: float | None
    missing_reason: str | None = None


@dataclass(frozen=True)
class Target:
    id: str
    title: str
    comparison: str  # "<=": the figure must stay at or under the limit; ">=": reach at least it
    limit: float
    unit: str
    read: Callable[[Figures], Reading]
    # (context, figures, results_dir) -> Finding: what is measured again when the target is missed.
    profile_miss: Callable = field(repr=False)


@dataclass(frozen=True)
class Judgement:
    """One target with its figure: the verdict, by how much, and both as results.md shows them."""

    id: str
    title: str
    value: float | None
    comparison: str
    limit: float
    unit: str
    verdict: str  # PASS or MISS
    margin: str
    shown: str
    target_shown: str


def table(plan) -> list[Target]:
    """The targets of a run of ``plan``, in the order results.md lists them."""
    large, small, target_file = plan.large_file, corpus.SMALLEST, plan.target_file
    memory_of = {process: functools.partial(memory.finding, process=process) for process in PROCESS_LABELS}
    return [
        *(Target(f"convert_{name}", f"Convert step, {name} file: converter / bare ffmpeg",
                 "<=", 1.05, "x", _convert_ratio(name), functools.partial(convert.profile_miss, name=name))
          for name in plan.files),
        Target(f"end_to_end_{target_file}",
               f"End to end, {target_file} file: upload to email / (bare ffmpeg + GridFS write)",
               "<=", 1.5, "x", _end_to_end_ratio(target_file),
               functools.partial(end_to_end.profile_miss, name=target_file)),
        Target("memory_gateway_worker_peak", f"Peak RSS of the gateway worker with children, {large} file",
               "<=", 150, " MB", _memory_peak("gateway_worker", large), memory_of["gateway_worker"]),
        Target("memory_gateway_worker_growth", f"Peak RSS of the gateway worker, {large} / {small} file",
               "<=", 1.2, "x", _memory_growth("gateway_worker", large), memory_of["gateway_worker"]),
        Target("memory_converter_peak", f"Peak RSS of the converter with children, {large} file",
               "<=", 150, " MB", _memory_peak("converter", large), memory_of["converter"]),
        Target("memory_converter_growth", f"Peak RSS of the converter, {large} / {small} file",
               "<=", 1.2, "x", _memory_growth("converter", large), memory_of["converter"]),
        Target("throughput_speedup", "Throughput: jobs/min with 2 converters / with 1",
               ">=", 1.8, "x", _attribute("throughput", "speedup"), throughput.finding),
        # The lean request path's targets (the tracker issue "A lean request path and a bench that
        # tells the whole truth"), in place of a fixed 1000 req/s: ratios within one run, which
        # another machine or a real MongoDB moves less than an absolute rate.
        Target("gateway_cpu_ms_per_request", "Gateway: its CPU per authenticated GET /jobs/<id>",
               "<=", 1.0, " ms", _attribute("gateway", "gateway_cpu_ms_per_request"), gateway.profile_miss),
        Target("gateway_share_of_database_ceiling", "Gateway: req/s / the database's own ceiling (lookups/s by _id)",
               ">=", 0.8, "x", _attribute("gateway", "share_of_database_ceiling"), gateway.profile_miss),
        Target("gateway_metrics_on_over_off", "Gateway: req/s with metrics on / with metrics off",
               ">=", 0.95, "x", _attribute("gateway", "metrics_on_over_off"), gateway.profile_miss),
    ]


def judge(targets: list[Target], figures: Figures) -> list[Judgement]:
    """Each target with its figure, PASS or MISS, and by how much."""
    return [_judge(target, target.read(figures)) for target in targets]


def _judge(target, reading):
    value, limit = reading.value, target.limit
    if value is None:
        verdict, margin = "MISS", f"not measured: {reading.missing_reason or 'see the figure'}"
    elif target.comparison == "<=":
        verdict = "PASS" if value <= limit else "MISS"
        margin = f"{_percent(value / limit - 1)} {'under' if value <= limit else 'over'} the limit"
    else:
        verdict = "PASS" if value >= limit else "MISS"
        margin = f"{_percent(value / limit - 1)} {'above' if value >= limit else 'short of'} the target"
    return Judgement(id=target.id, title=target.title, value=value, comparison=target.comparison, limit=limit,
                     unit=target.unit, verdict=verdict, margin=margin,
                     shown="-" if value is None else f"{value:g}{target.unit}",
                     target_shown=f"{target.comparison} {limit:g}{target.unit}")


def _percent(fraction):
    percent = abs(fraction) * 100
    return f"{percent:.1f}%" if percent < 10 else f"{percent:.0f}%"


# What each target reads: functions of the figures, returning the value or why there is none.

def _attribute(figure_name, attribute):
    def read(figures):
        figure = getattr(figures, figure_name)
        if isinstance(figure, Failed):
            return Reading(None, figure.error)
        return Reading(getattr(figure, attribute) if figure is not None else None)
    return read


def _convert_ratio(name):
    def read(figures):
        if isinstance(figures.convert, Failed):
            return Reading(None, figures.convert.error)
        figure = (figures.convert or {}).get(name)
        return Reading(figure.ratio if figure else None)
    return read


def _end_to_end_ratio(name):
    def read(figures):
        if isinstance(figures.end_to_end, Failed):
            return Reading(None, figures.end_to_end.error)
        figure = (figures.end_to_end or {}).get(name)
        return Reading(figure.ratio_to_baseline, figure.error) if figure else Reading(None)
    return read


def _memory_peak(process, large_file):
    def read(figures):
        large, reason = _large_file_memory(figures, process, large_file)
        summary = getattr(large, process) if large else None
        return Reading(summary.peak_with_children_mb if summary else None, reason)
    return read


def _memory_growth(process, large_file):
    def read(figures):
        large, reason = _large_file_memory(figures, process, large_file)
        return Reading(getattr(figures.memory, f"{process}_large_over_small") if large else None, reason)
    return read


def _large_file_memory(figures, process, large_file):
    """The large file's FileMemory, or why the process's figures do not stand: the gateway
    worker's once the upload is in, the converter's only once the whole job is done."""
    if isinstance(figures.memory, Failed):
        return None, figures.memory.error
    large = figures.memory.files.get(large_file) if figures.memory else None
    if large is None or not (large.upload_completed if process == "gateway_worker" else large.job_completed):
        step = "upload" if process == "gateway_worker" else "job"
        return None, f"the {large_file} {step} did not complete"
    return large, None
