"""3. Memory: peak RSS of the gateway worker and of the converter during the end-to-end runs."""
from __future__ import annotations

from dataclasses import dataclass

from bench import corpus
from bench.context import Failed
from bench.findings import Finding
from bench.sampling import MemorySummary


@dataclass(frozen=True)
class FileMemory:
    """The memory of one file's end-to-end run."""

    gateway_worker: MemorySummary | None
    converter: MemorySummary | None
    # The gateway's figure stands once the upload is in; the converter's needs the whole job.
    upload_completed: bool
    job_completed: bool


@dataclass(frozen=True)
class MemoryFigure:
    small_file: str
    large_file: str
    files: dict[str, FileMemory]
    # Peak with children, large file over small: how much the memory grows with the file.
    gateway_worker_large_over_small: float
    converter_large_over_small: float


def measure(context, end_to_end) -> MemoryFigure:
    """Peak RSS of the gateway worker and of the converter while the large file and the smallest
    were uploaded and converted (sampled every 50 ms during the end-to-end runs above).

    `peak_mb` is the Python process alone; `peak_with_children_mb` adds, at the same instant, the
    children it runs (the worker's ffprobe, the converter's ffmpeg), as a container limit would.
    """
    small, large = corpus.SMALLEST, context.plan.large_file
    files = {}
    for name in dict.fromkeys((small, large)):
        if isinstance(end_to_end, Failed) or name not in end_to_end:
            raise RuntimeError(f"no end-to-end run of {name} to take the memory figure from")
        run = end_to_end[name]
        files[name] = FileMemory(gateway_worker=run.memory.gateway_worker, converter=run.memory.converter,
                                 upload_completed=run.split_seconds.upload is not None, job_completed=run.ok)

    def growth(process):
        small_peak = getattr(files[small], process).peak_with_children_mb
        large_peak = getattr(files[large], process).peak_with_children_mb
        return round(large_peak / small_peak, 3)

    return MemoryFigure(small_file=small, large_file=large, files=files,
                        gateway_worker_large_over_small=growth("gateway_worker"),
                        converter_large_over_small=growth("converter"))


def finding(context, figures, results_dir, *, process) -> Finding:
    """The RSS timeline of the runs: what the process held idle, at its peak, and in which step."""
    memory = figures.memory
    if isinstance(memory, Failed):
        return Finding(notes=[memory.error])
    notes = []
    for name in dict.fromkeys((corpus.SMALLEST, context.plan.large_file)):
        sample = getattr(memory.files[name], process)
        notes.append(
            f"{name} file: idle {sample.idle_mb} MB before the upload; the process alone peaked at "
            f"{sample.peak_mb} MB (during {sample.peak_phase}), with its children at "
            f"{sample.peak_with_children_mb} MB (during {sample.peak_with_children_phase})."
        )
    return Finding(notes=notes)
