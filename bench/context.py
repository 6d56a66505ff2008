"""What every measurement works with: the run's plan (how much of each figure it measures), the
context (the running system, the bench's user, its mailbox and corpus), and how one
measurement's failure is recorded without losing the others."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from bench import corpus
from bench.client import Client, MailWatcher
from bench.system import System

logger = logging.getLogger(__name__)


# The figures, in the order they are measured and reported; `--only` takes these names.
FIGURE_NAMES = ("store", "convert", "throughput", "gateway", "end_to_end", "memory")


@dataclass(frozen=True)
class Plan:
    """How much of each measurement a run does."""

    mode: str
    files: tuple[str, ...]  # corpus names, smallest first
    convert_iterations: dict[str, int]
    target_file: str  # the end-to-end target's file
    large_file: str  # the memory target's large file
    throughput_uploads: int
    throughput_clients: int
    wrk_seconds: int
    # The store figure: the size of each file it writes and reads, how long each lookup loop runs,
    # and how many $inc each of its concurrent clients sends and how many jobs they race to claim.
    store_file_mb: int
    store_lookup_seconds: float
    store_increments_per_client: int
    store_claims: int
    # How many other videos the bucket holds for each timed GridFS read (a throughput miss's finding).
    bucket_fills: tuple[int, ...] = (0, 10, 20)
    wrk_threads: int = 2
    wrk_connections: int = 32


FULL = Plan(mode="full", files=("30s", "10min", "60min", "1gb"),
            convert_iterations={"30s": 5, "10min": 5, "60min": 3, "1gb": 5},
            target_file="10min", large_file="1gb",
            throughput_uploads=40, throughput_clients=8, wrk_seconds=10,
            store_file_mb=100, store_lookup_seconds=5, store_increments_per_client=100, store_claims=200)
# In a smoke run the smallest file stands in for every role, so results.json has the same shape.
SMOKE = Plan(mode="smoke", files=(corpus.SMALLEST,), convert_iterations={corpus.SMALLEST: 1},
             target_file=corpus.SMALLEST, large_file=corpus.SMALLEST,
             throughput_uploads=4, throughput_clients=2, wrk_seconds=2, bucket_fills=(0, 2),
             store_file_mb=4, store_lookup_seconds=1, store_increments_per_client=25, store_claims=20)


@dataclass
class Context:
    """What every measurement works with."""

    system: System
    user: Client
    mail: MailWatcher
    videos: dict[str, Path]
    plan: Plan
    scratch: Path
    created_jobs: list[str] = field(default_factory=list)  # the jobs the bench uploaded, in order
    gateway_job_id: str | None = None  # the job the gateway figure reads, again when profiled


@dataclass(frozen=True)
class Failed:
    """A measurement that raised: results.json records why in place of its figure."""

    error: str


def attempt(what, measure, *args):
    """Run one measurement; a failure is recorded as Failed rather than losing the others."""
    logger.info("measuring: %s", what)
    try:
        return measure(*args)
    except Exception as error:  # reported in results.json as the figure's error
        logger.exception("%s failed", what)
        return Failed(f"{type(error).__name__}: {error}")
