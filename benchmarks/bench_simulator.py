"""The simulator's firehose: frames/s it sends to one client, and per second of its own CPU.

The simulator runs in its own process (``sordash sim --firehose``); a plain aiohttp client
in this process receives and drops the frames. ``sim_firehose_per_core`` divides that rate by
the simulator process's share of a core over the same window, so a client that cannot keep
up does not hide what the simulator itself can do on one core (target: at least 100k/s).
"""

from __future__ import annotations

import asyncio
import os

from benchmarks.common import report
from benchmarks.simproc import receive_only, simulator


def run() -> None:
    """Print the simulator's BENCH lines."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    with simulator("--firehose") as (token_url, ws_url, pid):
        received, _, cpu = asyncio.run(receive_only(token_url, ws_url, pid))
    report("sim_firehose_received", received, "frames/s")
    report("sim_firehose_cpu", cpu * 100, "%core")
    report("sim_firehose_per_core", received / max(cpu, 1e-9), "frames/s")
