"""``sordash serve``: the dashboard in a browser.

The command's checks (loopback by default, ``--public``, ``--record`` refused) run the
real CLI. The end-to-end tests start ``sordash serve`` as a subprocess on a free port: one
speaks textual-serve's websocket as a browser does and looks for the client secret in
everything the page is sent; the other drives a real headless Chromium through the
DevTools protocol (``tests/cdp.py``) and reads the terminal xterm.js paints.

The browser test's screenshots are kept under the test's pytest tmp path (pytest keeps the
last three runs, ``/tmp/pytest-of-$USER/pytest-current/``), and copied to
``$SORDASH_ARTIFACTS`` when that is set (``make browser-screenshot`` sets it to
``screenshots/``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import aiohttp
import pytest

from app.pacing import PACE_DIR_ENV
from app.serve import dashboard_command, is_loopback, split_serve_args
from app.session import SHARED_SIMULATOR_ENV, SharedSimulator, shared_simulator_from_env
from tests.cdp import Page, chromium, find_chromium
from tests.feedkit import (
    CLI,
    ROOT,
    cli_environ,
    free_port,
    run_cli,
    running_sim,
    sim_args,
    sim_credentials,
    until,
)

SECRET = "serve-test-secret-Q7vXz9"
PRICE = re.compile(r"\b\d{3,}\.\d{2,}\b")
"""A price as a ladder shows it (``64252.69``)."""


def test_only_loopback_counts_as_safe() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.5.0.1") and is_loopback("::1")
    assert is_loopback("localhost") and is_loopback("[::1]")
    for other in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.com", "myhost"):
        assert not is_loopback(other), other


def test_each_session_gets_the_dashboard_options_and_none_of_serves() -> None:
    argv = ["--host", "127.0.0.1", "--markets", "BTCUSD", "--port=9001", "--public"]
    argv += ["--theme", "sordash-light"]
    child = split_serve_args(argv)
    assert child == ["--markets", "BTCUSD", "--theme", "sordash-light"]
    command = dashboard_command(child)
    assert command.endswith("-m sordash --markets BTCUSD --theme sordash-light")


def test_the_shared_simulator_travels_in_the_environment_and_hides_its_secret() -> None:
    shared = SharedSimulator("ws://127.0.0.1:1/", "http://127.0.0.1:1/t", "demo", SECRET, ["X"])
    assert SECRET not in repr(shared)
    assert shared_simulator_from_env({SHARED_SIMULATOR_ENV: shared.to_env()}) == shared
    assert shared_simulator_from_env({}) is None


async def test_an_unreadable_shared_simulator_is_a_usage_error_that_quotes_nothing() -> None:
    code, _, err = await run_cli("--demo", env={SHARED_SIMULATOR_ENV: f"{{{SECRET}"})
    assert code == 2
    assert SHARED_SIMULATOR_ENV in err.decode() and SECRET not in err.decode()


async def test_another_address_than_loopback_needs_public() -> None:
    code, out, err = await run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert code == 2
    assert "not a loopback address" in err.decode() and "--public" in err.decode()
    assert out == b""


async def test_a_public_address_is_warned_about_and_a_taken_port_is_named() -> None:
    """--public: the warning comes first; the port is held here (on every address), so
    serve stops there, before serving anything, and says why."""
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code, out, err = await run_cli(
            "serve", "--host", "0.0.0.0", "--public", "--port", str(port)
        )
    text = err.decode()
    assert code == 1 and out == b""
    assert "WARNING" in text and "anyone who can reach this port can watch" in text
    assert f"cannot listen on 0.0.0.0:{port}: Address already in use" in text


async def test_record_is_refused_since_every_session_would_write_one_file(
    tmp_path: Path,
) -> None:
    code, _, err = await run_cli("serve", "--record", str(tmp_path / "x.sordash"))
    assert code == 2
    assert "every browser session would write the same file" in err.decode()
    assert not (tmp_path / "x.sordash").exists()


async def test_serving_paxos_without_credentials_names_them_before_listening() -> None:
    code, _, err = await run_cli("serve", "--env", "sandbox", "--port", str(free_port()))
    assert code == 2
    assert "PAXOS_CLIENT_ID" in err.decode()


@asynccontextmanager
async def serving(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[_Served]:
    """``sordash serve ARGS`` on a free loopback port, entered once it says it serves;
    stopped with SIGTERM (as Ctrl+C would) on the way out, and checked to have exited."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "serve",
        "--port",
        str(port),
        *args,
        cwd=ROOT,
        env=cli_environ(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    served = _Served(proc, port)
    try:
        deadline = time.monotonic() + 30
        while not any("Ctrl+C to stop" in line for line in served.lines):
            line = await asyncio.wait_for(proc.stdout.readline(), deadline - time.monotonic())
            if not line:
                err = await proc.stderr.read()
                raise AssertionError(f"serve exited: {proc.returncode} {err.decode()}")
            served.lines.append(line.decode())
        # The server starts listening right after it says so.
        await until(served.listening, "the server to accept connections", 30)
        yield served
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError("sordash serve did not stop on SIGTERM") from None


class _Served:
    """A running ``sordash serve``: its process, port and what it printed."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port = proc, port
        self.url = f"http://127.0.0.1:{port}/"
        self.lines: list[str] = []

    def listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def command_lines(self) -> list[bytes]:
        """The command line (``ps`` shows) of every process serve started."""
        return [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in self.descendants()]

    def environments(self) -> list[bytes]:
        """The environment of every process serve started."""
        return [Path(f"/proc/{pid}/environ").read_bytes() for pid in self.descendants()]

    def descendants(self) -> list[int]:
        """The processes serve started (the sessions' shells and dashboards)."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text()
                    parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        found, frontier = [], [self.proc.pid]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, ppid in parents.items() if ppid == parent]
            found += children
            frontier += children
        return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
async def test_the_page_and_its_socket_never_carry_the_secret() -> None:
    """Against 'Paxos' (a simulator that accepts only SECRET): the session's dashboard gets
    the credentials from the environment, connects, and the HTML, the script, and every
    frame of the terminal's websocket are free of the secret and of the access token, and
    so is every process's command line."""
    async with (
        running_sim(client_secret=SECRET) as sim,
        serving(*sim_args(sim), env=sim_credentials(sim)) as served,
        aiohttp.ClientSession() as http,
    ):
        sent: list[bytes] = []
        for path in ("", "static/js/textual.js", "static/css/xterm.css"):
            async with http.get(served.url + path) as resp:
                assert resp.status == 200
                sent.append(await resp.read())
        assert b"fonts.googleapis.com" not in sent[0]  # the page fetches nothing elsewhere
        screen = b""
        async with http.ws_connect(f"ws://127.0.0.1:{served.port}/ws?width=120&height=40") as ws:
            deadline = time.monotonic() + 30
            while b"LIVE" not in screen or not PRICE.search(screen.decode(errors="replace")):
                msg = await asyncio.wait_for(ws.receive(), deadline - time.monotonic())
                assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), msg
                data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                sent.append(data)
                screen += data
            assert sim.token_requests >= 1  # the dashboard logged in with SECRET
            tokens = [t.encode() for t in sim._tokens]
            assert tokens
            commands = served.command_lines()
            environments = served.environments()
            await ws.send_json(["stdin", "q"])  # the dashboard quits; the page is told
            while not ws.closed:
                msg = await asyncio.wait_for(ws.receive(), 30)
                if msg.type == aiohttp.WSMsgType.BINARY:
                    sent.append(msg.data)
        assert any(b"sordash" in c for c in commands), commands
        # The sessions share the per-IP pacing (tests/test_pacing.py) through the environment.
        assert any(PACE_DIR_ENV.encode() + b"=" in e for e in environments)
        for blob in [*sent, *commands]:
            assert SECRET.encode() not in blob
            for token in tokens:
                assert token not in blob


# --------------------------------------------------------------------------- the browser

CHROMIUM = find_chromium()


def _need_chromium() -> str:
    """The browser, or a skip saying why; in CI (``CI`` set) a missing browser fails unless
    ``.ci/run`` said it could not install it (``SORDASH_NO_CHROMIUM``)."""
    if CHROMIUM is not None:
        return CHROMIUM
    why = os.environ.get("SORDASH_NO_CHROMIUM")
    if os.environ.get("CI") and not why:
        pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
    pytest.skip(f"chromium is not installed ({why or 'apt-get install chromium'})")


def _market_shown(text: str) -> str:
    """The market of the one-market layout (its header is the third row); "" in another."""
    rows = text.splitlines()
    if "[single]" not in text or len(rows) < 3 or not rows[2].split():
        return ""
    return rows[2].split()[0]


async def _background(page: Page, column: int, row: int) -> tuple[int, int, int]:
    """The colour xterm.js paints behind the cell (column, row)."""
    value = await page.on_terminal(
        f"t => {{ const c = t.buffer.active.getLine(t.buffer.active.viewportY + {row})"
        f".getCell({column}); return c.isBgRGB() ? c.getBgColor() : -1; }}"
    )
    assert isinstance(value, int) and value >= 0, "a truecolor background"
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def _keep(shot: Path) -> None:
    folder = os.environ.get("SORDASH_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(folder) / shot.name)


@pytest.mark.slow
async def test_the_dashboard_works_in_a_real_browser(tmp_path: Path) -> None:
    """Chromium opens ``sordash serve --demo``: a ladder with prices appears; a click on a
    market, keys, the command palette, a theme change and a resize all act on the page as
    in a terminal; screenshots are kept."""
    executable = _need_chromium()
    async with (
        serving("--demo", "--seed", "7", "--markets", "BTCUSD,ETHUSD") as served,
        chromium(executable, width=1400, height=900) as page,
    ):
        [simulator] = re.findall(r"\((ws://127\.0\.0\.1:\d+/)\)", "".join(served.lines))
        await page.navigate(served.url)
        text = await page.wait_screen(
            lambda t: t.count("LIVE") >= 4 and len(PRICE.findall(t)) > 40 and "✓ listed" in t,
            "two LIVE ladders, their channels listed",
        )
        assert "BTCUSD" in text and "ETHUSD" in text
        # The page gave the terminal the focus: the footer shows the keys before any input.
        assert "q Quit" in text.splitlines()[-1]
        assert f"demo {simulator}" in text  # the session is on serve's shared simulator
        await page.screenshot(tmp_path / "serve_browser.png")
        _keep(tmp_path / "serve_browser.png")

        # The mouse: a click on the right-hand market makes it current; `l` shows it alone.
        columns, rows = await page.terminal_size()
        await page.click_cell(columns * 3 // 4, rows // 3)
        await page.press("l")
        await page.wait_screen(lambda t: _market_shown(t) == "ETHUSD", "ETHUSD alone")
        # Keys: `1` and `2` change the market shown.
        await page.press("1")
        await page.wait_screen(lambda t: _market_shown(t) == "BTCUSD", "BTCUSD after 1")
        await page.press("2")
        text = await page.wait_screen(lambda t: _market_shown(t) == "ETHUSD", "ETHUSD after 2")
        assert PRICE.search(text)

        # The command palette, and a theme picked in it.
        dark = await _background(page, 1, rows // 2)
        await page.press_ctrl("p")
        await page.wait_screen(lambda t: "Search for commands" in t, "the command palette")
        for char in "theme":
            await page.press(char)
        await page.wait_screen(lambda t: "Change the colour theme" in t, "the Theme command")
        await page.press("Enter", text="\r")
        await page.wait_screen(lambda t: "Search for themes" in t, "the theme picker")
        for char in "sordash-light":
            await page.press(char)
        await page.press("Enter", text="\r")
        await page.wait_screen(lambda t: "Search for themes" not in t, "the picker closed")
        deadline = time.monotonic() + 30
        while sum(await _background(page, 1, rows // 2)) < 3 * 160:
            assert time.monotonic() < deadline, f"still dark: {dark}"
            await asyncio.sleep(0.05)
        assert sum(dark) < 3 * 100
        await page.screenshot(tmp_path / "serve_browser_light.png")

        # A resize: the terminal and the dashboard's layout follow the window.
        await page.resize(900, 600)
        deadline = time.monotonic() + 30
        while True:
            new_columns, new_rows = await page.terminal_size()
            screen = await page.terminal_rows()
            # Cut to fewer rows, the old picture's last row is a ladder's; laid out again
            # at the new size, it is the footer.
            if new_columns < columns and "q Quit" in screen[-1]:
                break
            shown = "\n".join(screen)
            assert time.monotonic() < deadline, f"not resized: {new_columns}x{new_rows}\n{shown}"
            await asyncio.sleep(0.05)
        assert new_rows < rows
        await page.screenshot(tmp_path / "serve_browser_small.png")
    assert served.proc.returncode == 0
