"""Run every benchmark module (``benchmarks/*_bench.py``) and print a summary.

Exit status: 0 when every benchmark ran, whatever its figures (benchmarks
report, they do not gate); 1 when a benchmark crashed. ``-k WORD`` runs only
the modules whose name contains WORD.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback

import benchmarks
from benchmarks import Target, load_average, table


def _modules(only: str | None) -> list[str]:
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.endswith("_bench")
    )
    return [name for name in names if not only or only in name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("-k", dest="only", help="run only modules whose name contains this")
    args = parser.parse_args(argv)

    started = time.monotonic()
    load_at_start = load_average()
    print(f"Machine at start: {load_at_start}", flush=True)
    results: list[tuple[str, Target]] = []
    crashed: list[str] = []
    for name in _modules(args.only):
        print(f"\n=== {name} ===", flush=True)
        module_started = time.monotonic()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            targets = module.run()
        except Exception:
            traceback.print_exc()
            crashed.append(name)
            print(f"{name}: CRASHED", flush=True)
            continue
        results.extend((name, target) for target in targets)
        print(f"{name}: done in {time.monotonic() - module_started:.0f}s", flush=True)

    print("\n=== summary ===")
    rows = [
        [module, target.name, f"{target.measured:.3f}", target.bound, target.verdict]
        for module, target in results
    ]
    rows += [[module, "(benchmark crashed)", "-", "-", "CRASH"] for module in crashed]
    if rows:
        print(table(rows, ["benchmark", "target", "measured", "limit", "result"]))
    else:
        print("no benchmarks found")
    failed = sum(not target.passed for _, target in results)
    print(
        f"\n{len(results)} targets: {len(results) - failed} pass, {failed} fail"
        f"{f'; {len(crashed)} benchmark(s) crashed' if crashed else ''}"
        f" ({time.monotonic() - started:.0f}s). Targets report only; they do not gate."
    )
    print(f"Machine: {load_at_start} at start, {load_average()} at the end.")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
