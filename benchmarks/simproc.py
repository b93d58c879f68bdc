"""The simulator in its own process, and a plain aiohttp client that only counts frames.

Shared by the feed and simulator benchmarks: the simulator runs as ``python -m app.cli sim``
so that the process under measurement has its own core on a 2-core machine.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Final

import aiohttp

from app.auth import Credentials, TokenProvider
from app.protocol import SubscribeRequest, channel, encode

MARKETS: Final = ["BTCUSD", "ETHUSD", "LTCUSD", "BCHUSD"]
WINDOW: Final = 4.0
FRAMES_PER_UPDATE: Final = 1.22
"""Frames per book UPDATE on a market_data + execution_data subscription (trades add one)."""
CLIENT_ID: Final = "bench"
CLIENT_SECRET: Final = "bench-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def simulator(*args: str, markets: list[str] = MARKETS) -> Iterator[tuple[str, str, int]]:
    """Run ``sordash sim`` in a subprocess (serving ``markets``); yields (token URL, ws URL,
    pid) once it listens."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "sim",
            "--port",
            str(port),
            "--seed",
            "5",
            "--markets",
            ",".join(markets),
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--no-sub-rate-limit",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/oauth2/token", f"ws://127.0.0.1:{port}/", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _token(session: aiohttp.ClientSession, token_url: str) -> str:
    token = await TokenProvider(token_url, Credentials(CLIENT_ID, CLIENT_SECRET)).get(session)
    return token.value


async def receive_only(
    token_url: str, ws_url: str, pid: int | None = None
) -> tuple[float, float, float]:
    """(frames/s a plain aiohttp client receives and drops, its own CPU share, that of ``pid``).

    All are measured over the same window; the last is 0 when no ``pid`` is given.
    """
    async with aiohttp.ClientSession() as session:
        token = await _token(session, token_url)
        async with session.ws_connect(
            ws_url, headers={"Authorization": f"Bearer {token}"}, compress=0, max_msg_size=0
        ) as ws:
            request = SubscribeRequest(
                [channel(t, m) for m in MARKETS for t in ("market_data", "execution_data")]
            )
            await ws.send_str(encode(request).decode())
            frames = 0
            await ws.receive()
            cpu0 = cpu_seconds(pid) if pid is not None else 0.0
            own0 = time.process_time()
            start = time.perf_counter()
            end = start + WINDOW
            while time.perf_counter() < end:
                await ws.receive()
                frames += 1
            elapsed = time.perf_counter() - start
            own = (time.process_time() - own0) / elapsed
            cpu = (cpu_seconds(pid) - cpu0) / elapsed if pid is not None else 0.0
            return frames / elapsed, own, cpu


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
