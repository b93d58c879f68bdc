"""The Paxos integration guide's examples, unchanged, against the simulator (issue 3).

Needs node with the npm package ``ws`` and a Python with ``websockets`` 13 (see
tests/guide/README.md); each test skips, naming what is missing, where they are not installed
(CI has only python3 and make).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.simulator import SimConfig, Simulator
from tests.guide.run_guide_examples import (
    MARKETS,
    fetch_token,
    node_missing,
    python_missing,
    run_node,
    run_python,
)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(SimConfig(seed=1, markets=MARKETS, token_rate_limit=False))
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_python_example_connects_and_receives_the_stream(sim: Simulator) -> None:
    reason = python_missing()
    if reason:
        pytest.skip(reason)
    lines = await run_python(sim, await fetch_token(sim), seconds=1.0)
    assert any(line.startswith("CHECK python") for line in lines)


async def test_node_example_builds_the_simulator_books(sim: Simulator) -> None:
    reason = node_missing()
    if reason:
        pytest.skip(reason)
    lines = await run_node(sim, await fetch_token(sim), seconds=1.0)
    assert sum(line.startswith("CHECK node") for line in lines) == len(MARKETS)
