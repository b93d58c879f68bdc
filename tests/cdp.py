"""A real headless Chromium driven through the DevTools protocol (CDP), over aiohttp.

Enough of CDP for the browser tests of ``sordash serve``: start Chromium on a fresh
profile, open a page, evaluate JavaScript, type keys, resize, click, take a screenshot,
and read what the page's terminal shows. textual-serve draws the terminal with xterm.js on
a canvas, so its text is not in the DOM: :meth:`Page.terminal_rows` finds the page's xterm
``Terminal`` through the inspector (the class ``textual.js`` keeps each terminal in, reached
from the ``window.onload`` handler's closure, then its live instances) and reads its buffer,
the characters xterm.js paints. Nothing here is mocked: the page, its websocket and the
dashboard behind it are the real ones.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--mute-audio",
    # Nothing but loopback is ever looked up: a page that asked for anything else fails.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
)
WAIT = 30.0
"""The longest any condition in the browser may take (CI machines are slow)."""


def find_chromium() -> str | None:
    """The Chromium executable on PATH, if any."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


class CDPError(Exception):
    """The browser answered a command with an error."""


class Page:
    """One page (a CDP target), driven over its own websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        """Every event the page sent (``method``, ``params``), oldest first."""
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self._terminal: str | None = None

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.json()
            if "id" in data:
                future = self._waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            else:
                self.events.append(data)
                self._changed.set()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(CDPError("the browser closed the page's socket"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one CDP command; its result."""
        number = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        await self._ws.send_json({"id": number, "method": method, "params": params})
        answer = await asyncio.wait_for(future, WAIT)
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def wait_event(self, method: str, limit: float = WAIT) -> dict[str, Any]:
        """The first event named ``method`` (waiting for it if none came yet)."""
        deadline = time.monotonic() + limit
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method:
                    params: dict[str, Any] = event.get("params", {})
                    return params
            seen = len(self.events)
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {limit}s waiting for the event {method}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def navigate(self, url: str) -> None:
        """Open ``url`` and wait for its load event."""
        await self.send("Page.enable")
        await self.send("Page.navigate", url=url)
        await self.wait_event("Page.loadEventFired")

    # ------------------------------------------------------------------ the terminal

    async def _properties(self, object_id: str) -> dict[str, Any]:
        return await self.send("Runtime.getProperties", objectId=object_id, ownProperties=True)

    async def _find_terminal(self) -> str:
        """The object id of an array of the page's xterm ``Terminal`` objects.

        ``textual.js`` makes one object per terminal element in its ``window.onload``
        handler and keeps its xterm ``Terminal`` as ``.terminal``; the class is a variable
        of the handler's closure, and the inspector lists the live objects of a prototype.
        """
        handler = await self.send("Runtime.evaluate", expression="window.onload")
        scopes = await self._properties(handler["result"]["objectId"])
        [scope_list] = [p for p in scopes["internalProperties"] if p["name"] == "[[Scopes]]"]
        scope_entries = await self._properties(scope_list["value"]["objectId"])
        for entry in scope_entries["result"]:
            if "objectId" not in entry.get("value", {}):
                continue
            variables = await self._properties(entry["value"]["objectId"])
            for variable in variables["result"]:
                value = variable.get("value", {})
                if value.get("type") != "function" or "objectId" not in value:
                    continue
                prototype = await self.send(
                    "Runtime.callFunctionOn",
                    objectId=value["objectId"],
                    functionDeclaration="function() { return this.prototype; }",
                )
                proto_id = prototype["result"].get("objectId")
                if proto_id is None:
                    continue
                found = await self.send("Runtime.queryObjects", prototypeObjectId=proto_id)
                holders = found["objects"]["objectId"]
                terminals = await self.send(
                    "Runtime.callFunctionOn",
                    objectId=holders,
                    functionDeclaration="function() { return this.filter("
                    "h => h && h.terminal && h.terminal.buffer).map(h => h.terminal); }",
                )
                count = await self.send(
                    "Runtime.callFunctionOn",
                    objectId=terminals["result"]["objectId"],
                    functionDeclaration="function() { return this.length; }",
                    returnByValue=True,
                )
                if count["result"]["value"]:
                    terminal_id: str = terminals["result"]["objectId"]
                    return terminal_id
        raise AssertionError("no xterm.js terminal in the page")

    async def on_terminal(self, function: str) -> Any:
        """Call a JavaScript ``function(terminal)`` on the page's xterm terminal; its value."""
        if self._terminal is None:
            self._terminal = await self._find_terminal()
        result = await self.send(
            "Runtime.callFunctionOn",
            objectId=self._terminal,
            functionDeclaration=f"function() {{ return ({function})(this[0]); }}",
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise CDPError(f"{function!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def terminal_rows(self) -> list[str]:
        """The text of every row the terminal shows, top to bottom."""
        rows = await self.on_terminal(
            "t => { const b = t.buffer.active, rows = [];"
            " for (let y = 0; y < t.rows; y++) {"
            "   const line = b.getLine(b.viewportY + y);"
            "   rows.push(line ? line.translateToString(true) : ''); }"
            " return rows; }"
        )
        assert isinstance(rows, list)
        return [str(row) for row in rows]

    async def terminal_size(self) -> tuple[int, int]:
        """(columns, rows) of the terminal."""
        size = await self.on_terminal("t => [t.cols, t.rows]")
        return int(size[0]), int(size[1])

    async def wait_screen(
        self, check: Callable[[str], bool], what: str, limit: float = WAIT
    ) -> str:
        """The terminal's text once ``check(text)`` holds (looked at every 50 ms)."""
        deadline = time.monotonic() + limit
        text = ""
        while time.monotonic() < deadline:
            if await self.evaluate("document.body.classList.contains('-first-byte')"):
                text = "\n".join(await self.terminal_rows())
                if check(text):
                    return text
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {limit}s waiting for {what}; the screen:\n{text}")

    # ------------------------------------------------------------------ input, output

    async def press(self, key: str, text: str | None = None, code: str | None = None) -> None:
        """A key pressed and released, as a person's keyboard sends it."""
        typed = text if text is not None else (key if len(key) == 1 else "")
        down: dict[str, Any] = {"type": "keyDown", "key": key}
        if code is not None:
            down["code"] = code
        if typed:
            down["text"] = typed
        await self.send("Input.dispatchKeyEvent", **down)
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key)

    async def press_ctrl(self, key: str) -> None:
        """Ctrl and a letter, as a keyboard sends them (modifiers 2 is Ctrl)."""
        code = f"Key{key.upper()}"
        await self.send(
            "Input.dispatchKeyEvent",
            type="rawKeyDown",
            key=key,
            code=code,
            modifiers=2,
            windowsVirtualKeyCode=ord(key.upper()),
        )
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code, modifiers=2)

    async def click_cell(self, column: int, row: int) -> None:
        """A left click in the middle of the terminal's cell (column, row)."""
        box = await self.evaluate(
            "(() => { const r = document.querySelector('.xterm-screen')"
            ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()"
        )
        columns, rows = await self.terminal_size()
        x = box[0] + (column + 0.5) * box[2] / columns
        y = box[1] + (row + 0.5) * box[3] / rows
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            extra = {} if kind == "mouseMoved" else {"button": "left", "clickCount": 1}
            await self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    async def resize(self, width: int, height: int) -> None:
        """Make the page's window ``width`` x ``height`` CSS pixels."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def screenshot(self, path: Path) -> Path:
        """A PNG of the page as shown, written to ``path``."""
        shot = await self.send("Page.captureScreenshot", format="png")
        return _write(path, base64.b64decode(shot["data"]))

    async def close(self) -> None:
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def chromium(executable: str, *, width: int = 1400, height: int = 900) -> AsyncIterator[Page]:
    """A headless Chromium on a fresh profile, and a page of ``width`` x ``height`` in it;
    the browser is ended (and its profile removed) on the way out."""
    profile = Path(tempfile.mkdtemp(prefix="sordash-chromium-"))
    proc = await asyncio.create_subprocess_exec(
        executable,
        *FLAGS,
        f"--window-size={width},{height}",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "LANG": "C.UTF-8"},
        start_new_session=True,
    )
    session = aiohttp.ClientSession()
    page: Page | None = None
    try:
        port = await _devtools_port(profile, proc)
        async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
        [target] = [t for t in targets if t.get("type") == "page"]
        ws = await session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(ws)
        await page.resize(width, height)
        # A headless page never has the window's focus; a person's browser in front does.
        await page.send("Emulation.setFocusEmulationEnabled", enabled=True)
        yield page
    finally:
        if page is not None:
            await page.close()
        await session.close()
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def _devtools_port(profile: Path, proc: asyncio.subprocess.Process) -> int:
    """The DevTools port Chromium chose: the first line of ``DevToolsActivePort`` in its
    profile, written once it listens."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise AssertionError(f"chromium exited at start ({proc.returncode})")
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        await asyncio.sleep(0.05)
    raise AssertionError(f"chromium did not start listening within {WAIT}s")
