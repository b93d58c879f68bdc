"""What every benchmark shares: the one-line ``BENCH`` report format, and memory readings.

``BENCH <name> <value> <unit> [x<ratio> vs <baseline>]`` -- one figure per line, so a run's
output can be grepped, diffed and pasted into a closing note as it is.
"""

from __future__ import annotations

import os


def format_value(value: float) -> str:
    """Enough digits to compare runs, no more: 1234567, 812.3, 3.21, 0.0123."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def report(
    name: str, value: float, unit: str, ratio: float | None = None, baseline: str | None = None
) -> None:
    """Print one figure; ``ratio`` is ``value`` over the same figure for ``baseline``."""
    line = f"BENCH {name} {format_value(value)} {unit}"
    if ratio is not None:
        line += f" x{ratio:.2f}"
        if baseline:
            line += f" vs {baseline}"
    print(line, flush=True)


def rss_mib() -> float:
    """This process's resident memory now, in MiB (Linux ``/proc``; 0.0 where unavailable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
