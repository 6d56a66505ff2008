"""What the bench found out about each missed target, by measuring again: a miss is examined,
not guessed at. Each figure's module says how its misses are profiled (py-spy, the RSS
timeline, the CPU account); this module runs those for the misses of a run."""
from __future__ import annotations

from dataclasses import dataclass, field

from bench.context import attempt


@dataclass(frozen=True)
class Finding:
    """What was measured about one miss, in plain sentences, with the profiles it rests on."""

    notes: list[str]
    # The profile files written into the results directory (flame graph, raw py-spy stacks).
    files: list[str] = field(default_factory=list)
    # profiles.summarize() of each profiled process, by the part it profiled ("gateway", "converter").
    profiles: dict[str, dict] = field(default_factory=dict)
    # Only for a throughput miss: one GridFS read timed by the number of other videos in the bucket.
    gridfs_reads: dict | None = None


def profile_misses(table, judgements, context, figures, results_dir, *, passes_too=False):
    """{target id: Finding or Failed} for each target missed with a figure to examine (and, with
    ``passes_too``, each one passed: tests/bench runs every profiler that way)."""
    profile_of = {target.id: target.profile_miss for target in table}
    # Targets read off one figure share its profiler (the gateway's three): it runs once, and
    # each of them gets the same finding, rather than measuring again into the same files.
    found_by = {}
    findings = {}
    for judgement in judgements:
        if (judgement.verdict == "MISS" or passes_too) and judgement.value is not None:
            profiler = profile_of[judgement.id]
            if profiler not in found_by:
                found_by[profiler] = attempt(f"profile of {judgement.id}", profiler, context, figures, results_dir)
            findings[judgement.id] = found_by[profiler]
    return findings


def cpu_seconds_shown(seconds):
    """A CPU account's seconds in a sentence; None is a process restarted during the run."""
    return "- (restarted during the run)" if seconds is None else f"{seconds:.1f} s"
