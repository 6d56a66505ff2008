"""One module per figure of results.md: what it measures, the dataclass it records, and how a miss
of its target is profiled. bench/targets.py says which figure each target reads."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.context import Failed
    from bench.figures.convert import ConvertFigure
    from bench.figures.end_to_end import EndToEndFigure
    from bench.figures.gateway import GatewayFigure
    from bench.figures.memory import MemoryFigure
    from bench.figures.store import StoreFigure
    from bench.figures.throughput import ThroughputFigure


@dataclass
class Figures:
    """Every figure of a run, in the order they are measured and reported; None when not measured."""

    store: StoreFigure | Failed | None = None
    convert: dict[str, ConvertFigure] | Failed | None = None
    throughput: ThroughputFigure | Failed | None = None
    gateway: GatewayFigure | Failed | None = None
    end_to_end: dict[str, EndToEndFigure] | Failed | None = None
    memory: MemoryFigure | Failed | None = None
