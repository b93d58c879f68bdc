"""Run the benchmarks: ``python -m benchmarks [FILTER ...]``.

Every ``benchmarks/bench_*.py`` module whose name contains one of the filters (all of them
without a filter) is imported and its ``run()`` called, each in a process of its own when
there are several; each prints its own ``BENCH`` lines.
A module that fails prints ``BENCH-ERROR <module> <exception>`` and the others still run;
the exit status is 1 if any failed, 2 if the filters matched nothing.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import time
import traceback
from pathlib import Path


def discover() -> list[str]:
    """The benchmark module names (``bench_core``, ...), sorted."""
    here = Path(__file__).resolve().parent
    return sorted(
        info.name for info in pkgutil.iter_modules([str(here)]) if info.name.startswith("bench_")
    )


def main(argv: list[str]) -> int:
    """Run the selected benchmarks; the process exit status."""
    names = discover()
    selected = [name for name in names if not argv or any(word in name for word in argv)]
    if not selected:
        print(f"no benchmark matches {' '.join(argv)!r}; have: {' '.join(names)}", file=sys.stderr)
        return 2
    if len(selected) > 1:
        # Each module in a process of its own: memory figures (resident size, growth) are
        # then the module's, not whatever the modules before it left behind.
        codes = [
            subprocess.run([sys.executable, "-m", "benchmarks", name], check=False).returncode
            for name in selected
        ]
        return 1 if any(codes) else 0
    failed = 0
    for name in selected:
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            module.run()
        except Exception as exc:
            failed += 1
            traceback.print_exc(file=sys.stderr)
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())
            print(f"BENCH-ERROR {name} {detail}", flush=True)
        print(f"# {name} took {time.perf_counter() - start:.1f}s", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
