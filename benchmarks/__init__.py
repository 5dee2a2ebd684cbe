"""Benchmarks: ``make bench`` (``python -m benchmarks``) runs every ``*_bench`` module.

A benchmark module defines ``run() -> list[Target]``. Every target is a ratio
against a baseline measured in the same run, so the figures mean the same on a
laptop and on CI. Benchmarks report; they never gate: ``python -m benchmarks``
exits 0 whatever the figures, and non-zero only when a benchmark crashed.
Timings are never asserted in the test suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


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


def log(message: str) -> None:
    """A benchmark's progress line, indented under its heading."""
    print(f"  {message}", flush=True)


def recreate_database(url: str, *, keep: bool = False) -> None:
    """Drop and create the PostgreSQL database ``url`` names (a benchmark's own);
    with ``keep``, only create it when it does not exist."""
    import psycopg

    name = url.rsplit("/", 1)[-1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if keep and exists.fetchone():
                return
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise BenchmarkError(f"PostgreSQL is needed for this benchmark ({admin}): {exc}") from None


def bench_env(*, keep: str = "", **settings: str) -> dict[str, str]:
    """The environment of a benchmark's govdash process: no debug, quiet logs, plus
    ``settings``; the caller's ``GOVDASH_*`` variables are dropped, but for those
    starting with ``keep``."""
    return {
        **{
            key: value
            for key, value in os.environ.items()
            if not key.startswith("GOVDASH_") or (keep and key.startswith(keep))
        },
        "GOVDASH_DEBUG": "false",
        "GOVDASH_SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "GOVDASH_HTTPS": "false",
        "GOVDASH_LOG_LEVEL": "WARNING",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **settings,
    }


def run_child(module: str, what: str, *args: str, keep: str = "", **settings: str) -> Any:
    """Run ``python -m benchmarks.<module> --child <result file> <args>`` in
    ``bench_env(keep=keep, **settings)`` and answer the JSON the child wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        completed = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{module}", "--child", str(out), *args],
            cwd=REPO,
            env=bench_env(keep=keep, **settings),
            check=False,
        )
        if completed.returncode != 0 or not out.exists():
            raise BenchmarkError(f"the {what} benchmark child failed ({completed.returncode})")
        return json.loads(out.read_text())


__all__ = [
    "BenchmarkError",
    "Target",
    "bench_env",
    "load_average",
    "log",
    "recreate_database",
    "run_child",
    "table",
]
