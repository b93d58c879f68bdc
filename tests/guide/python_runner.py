"""Run the guide's Python example (python_example.py.txt) unchanged against the simulator.

    <python with websockets<=13> python_runner.py <ws-url> <token> <seconds>

The example's configuration literals (the token and the sandbox URL) are replaced by the
simulator's; its code runs as written, with ``websockets.connect(..., extra_headers=...)``.
The example itself never subscribes (the guide shows the subscribe message in step 3, in
JavaScript), so this shim sends that step-3 message, ``market_data`` for BTCUSD, on the
example's own connection right after it opens, and closes the connection after
``seconds`` so that the example's ``async for`` ends and it returns normally.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).with_name("python_example.py.txt")
TOKEN = "'{your_access_token}'"
URL = "'wss://ws.sandbox.paxos.com/'"
SUBSCRIBE = {
    "type": "subscribe",
    "channels": [{"type": "market_data", "params": {"market": "BTCUSD"}}],
}


def configure(source: str, url: str, token: str) -> str:
    for literal in (TOKEN, URL):
        if source.count(literal) != 1:
            raise SystemExit(f"expected {literal} exactly once in {EXAMPLE}")
    return source.replace(TOKEN, repr(token)).replace(URL, repr(url))


def main() -> None:
    url, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    websockets: Any = importlib.import_module("websockets")
    real_connect = websockets.connect

    class Connect:
        """``websockets.connect`` as the example calls it, plus the step-3 subscribe."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._inner = real_connect(*args, **kwargs)

        async def __aenter__(self) -> Any:
            ws = await self._inner.__aenter__()
            await ws.send(json.dumps(SUBSCRIBE))
            loop = asyncio.get_running_loop()
            loop.call_later(seconds, lambda: loop.create_task(ws.close()))
            return ws

        async def __aexit__(self, *exc: Any) -> Any:
            return await self._inner.__aexit__(*exc)

    websockets.connect = Connect
    print(f"websockets {websockets.__version__}", flush=True)
    code = compile(configure(EXAMPLE.read_text(), url, token), "python_example.py", "exec")
    exec(code, {"__name__": "__main__"})


if __name__ == "__main__":
    main()
