"""Point the Paxos integration guide's Node.js and Python examples at the simulator.

    .venv/bin/python -m tests.guide.run_guide_examples [--seconds S]

Starts a simulator, takes a token from its token endpoint, then runs

* ``python_runner.py`` (the guide's Python example, ``websockets`` <= 13, ``extra_headers``)
  and checks what it printed: connected, the subscribe result, UPDATEs, one SNAPSHOT;
* ``node_runner.js`` (the guide's "Complete Integration Example", npm ``ws``), lets it run,
  pauses the simulator and compares the books the example built, level by level, with the
  simulator's own.

Where the tools live: ``SORDASH_GUIDE_NODE_PATH`` (a ``node_modules`` holding ``ws``) and
``SORDASH_GUIDE_PYTHON`` (a Python with ``websockets==13.1``); see README.md.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from app.protocol import SCOPE
from app.simulator import SimConfig, Simulator

HERE = Path(__file__).resolve().parent
NODE_PATH = os.environ.get("SORDASH_GUIDE_NODE_PATH", "/tmp/sordash-guide/node_modules")
GUIDE_PYTHON = os.environ.get("SORDASH_GUIDE_PYTHON", "/tmp/sordash-guide/venv/bin/python")
MARKETS = ["BTCUSD", "ETHUSD"]
WAIT = 15.0


def node_missing(node_path: str = NODE_PATH) -> str | None:
    """Why the Node.js example cannot run here, or None."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed"
    probe = subprocess.run(
        [node, "-e", "require.resolve('ws')"],
        env={**os.environ, "NODE_PATH": node_path},
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"the npm package ws is not in {node_path} (set SORDASH_GUIDE_NODE_PATH)"
    return None


def python_missing(python: str = GUIDE_PYTHON) -> str | None:
    """Why the Python example cannot run here, or None."""
    if not Path(python).exists():
        return f"no Python with websockets 13 at {python} (set SORDASH_GUIDE_PYTHON)"
    probe = subprocess.run(
        [python, "-c", "import websockets; print(websockets.__version__)"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"{python} cannot import websockets"
    version = probe.stdout.strip()
    if int(version.split(".")[0]) >= 14:
        return f"websockets {version} at {python}: the example's extra_headers needs <= 13"
    return None


async def fetch_token(sim: Simulator) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "scope": SCOPE,
    }
    async with aiohttp.ClientSession() as session, session.post(sim.token_url, data=form) as resp:
        resp.raise_for_status()
        body = await resp.json()
    token = body["access_token"]
    assert isinstance(token, str)
    return token


async def run_python(
    sim: Simulator, token: str, seconds: float, python: str = GUIDE_PYTHON
) -> list[str]:
    """Run the Python example for ``seconds``; its output, after checking it."""
    proc = await asyncio.create_subprocess_exec(
        python,
        str(HERE / "python_runner.py"),
        sim.ws_url,
        token,
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), seconds + WAIT)
    lines = out.decode().splitlines()
    assert proc.returncode == 0, "\n".join(lines[-20:])
    assert "Connected to Smart Order Routing WebSocket" in lines, lines[:5]
    received: list[dict[str, Any]] = [
        ast.literal_eval(line.removeprefix("Received: "))
        for line in lines
        if line.startswith("Received: ")
    ]
    assert received[0] == {
        "type": "subscribe",
        "channels": [{"type": "market_data", "params": {"market": "BTCUSD"}, "success": True}],
    }, received[0]
    kinds = [m["payload"]["type"] for m in received[1:] if m.get("channel") == "market_data"]
    assert kinds.count("SNAPSHOT") == 1, kinds
    first = kinds.index("SNAPSHOT")
    assert first >= 1, "no UPDATE before the SNAPSHOT"
    assert len(kinds) > first + 1, "no UPDATE after the SNAPSHOT"
    lines.append(
        f"CHECK python: subscribe success, {first} UPDATE(s) before the single SNAPSHOT, "
        f"{len(kinds) - first - 1} after"
    )
    return lines


async def run_node(
    sim: Simulator, token: str, seconds: float, node_path: str = NODE_PATH
) -> list[str]:
    """Run the Node.js example, then compare its books with the simulator's; its output."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / "node_runner.js"),
        sim.ws_url,
        token,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NODE_PATH": node_path},
    )
    assert proc.stdout is not None and proc.stdin is not None
    lines: list[str] = []
    try:

        async def read_until(done: str) -> None:
            assert proc.stdout is not None
            while not any(line.startswith(done) for line in lines):
                raw = await proc.stdout.readline()
                if not raw:
                    raise AssertionError("node exited:\n" + "\n".join(lines[-20:]))
                lines.append(raw.decode().rstrip("\n"))

        for market in MARKETS:
            await asyncio.wait_for(read_until(f"Order book initialized for {market}"), WAIT)
        # Let it apply live UPDATEs and executions for a while (the stream is the point).
        with_updates = asyncio.create_task(read_until("never"))
        await asyncio.sleep(seconds)
        sim.pause()
        with_updates.cancel()
        # Ask for the example's books until they equal the paused simulator's (what was
        # sent is still in flight for a moment), or until WAIT: then the check below fails
        # and names the side that differs.
        deadline = time.monotonic() + WAIT
        while True:
            seen = sum(line.startswith("BOOKS ") for line in lines)
            proc.stdin.write(b"dump\n")
            await proc.stdin.drain()
            while sum(line.startswith("BOOKS ") for line in lines) == seen:
                raw = await asyncio.wait_for(proc.stdout.readline(), WAIT)
                if not raw:
                    raise AssertionError("node exited:\n" + "\n".join(lines[-20:]))
                lines.append(raw.decode().rstrip("\n"))
            if _books_differ(_last_books(lines), sim) is None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        proc.stdin.write(b"quit\n")
        await proc.stdin.drain()
        await asyncio.wait_for(proc.wait(), WAIT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        sim.resume()
    difference = _books_differ(_last_books(lines), sim)
    assert difference is None, difference
    lines = [line for line in lines if not line.startswith("BOOKS ")]
    for market in MARKETS:
        bids, asks = sim.book(market)
        lines.append(
            f"CHECK node: {market} book equals the simulator's: {len(bids)} bids, "
            f"{len(asks)} asks, best {bids[0][0]} / {asks[0][0]}"
        )
    return lines


def _last_books(lines: list[str]) -> dict[str, Any]:
    """The books in the newest ``BOOKS`` line the Node runner printed."""
    last = next(line for line in reversed(lines) if line.startswith("BOOKS "))
    books: dict[str, Any] = json.loads(last[6:])
    return books


def _books_differ(books: dict[str, Any], sim: Simulator) -> str | None:
    """Which side of the Node example's books is not the simulator's (level for level,
    spellings included), or None when they are equal."""
    for market in MARKETS:
        bids, asks = sim.book(market)
        built = books.get(market, {"bids": [], "asks": []})
        if dict(map(tuple, built["bids"])) != dict(bids):
            return f"{market} bids differ"
        if dict(map(tuple, built["asks"])) != dict(asks):
            return f"{market} asks differ"
    return None


def excerpt(lines: list[str], head: int = 8, width: int = 150) -> list[str]:
    short = [line if len(line) <= width else line[:width] + " ..." for line in lines]
    checks = [line for line in short if line.startswith("CHECK")]
    rest = [line for line in short if not line.startswith("CHECK")]
    return (
        rest[:head]
        + ([f"... ({len(rest) - head} more lines)"] if len(rest) > head else [])
        + checks
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    reasons = [r for r in (python_missing(), node_missing()) if r]
    if reasons:
        print("cannot run:", "; ".join(reasons))
        return 2
    sim = Simulator(SimConfig(seed=1, markets=MARKETS))
    await sim.start()
    try:
        token = await fetch_token(sim)
        print(f"simulator at {sim.ws_url}, token from {sim.token_url}")
        print("--- python example (websockets 13.1, extra_headers)")
        for line in excerpt(await run_python(sim, token, args.seconds)):
            print(line)
        print("--- node example (npm ws, Complete Integration Example)")
        for line in excerpt(await run_node(sim, token, args.seconds), head=12):
            print(line)
    finally:
        await sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
