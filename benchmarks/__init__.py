"""Benchmarks: ``make bench`` (``python -m benchmarks``) runs every ``*_bench`` module.

A benchmark module defines ``run() -> list[Target]``. Every target is a ratio
against a baseline measured in the same run, so the figures mean the same on a
laptop and on CI. Benchmarks report; they never gate: ``python -m benchmarks``
exits 0 whatever the figures, and non-zero only when a benchmark crashed.
Timings are never asserted in the test suite.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


class BenchmarkError(RuntimeError):
    """The benchmark itself could not run (not a missed target)."""


@dataclass(frozen=True)
class Target:
    """One measured ratio and the limit it should stay under (or, with
    ``at_least``, reach: a speed-up)."""

    name: str
    measured: float
    limit: float
    detail: str = ""
    at_least: bool = False

    @property
    def passed(self) -> bool:
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit

    @property
    def bound(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.limit:g}"

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table, columns left-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, ["-" * w for w in widths], *rows]
    ]
    return "\n".join(lines)


def load_average() -> str:
    """The machine's load average and CPU count, printed with the figures so that
    a busy machine is visible in them."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


__all__ = ["BenchmarkError", "Target", "load_average", "table"]
