"""``sordash serve``: the dashboard in a web browser, through textual-serve.

Each browser session (each page opened) runs a dashboard process of its own, the command
line's dashboard options passed on to it: ``python -m sordash [options]`` with this
interpreter. In the demo (the default), the sessions share one exchange simulator, started
here, so every screen shows the same market; its address and demo credentials reach them in
the environment (:data:`~app.session.SHARED_SIMULATOR_ENV`). Against Paxos each session
reads the credentials as ``sordash`` does, from the environment it inherits or the config
file; nothing secret is ever put on a command line (which ``ps`` shows every user) or in
the page.

The sessions share the API's per-IP pacing (one token request and one subscription a
second) through pace files in a folder made here (:mod:`app.pacing`), named to them in
the environment as well.

Safe by default: the server listens on loopback; another address needs ``--public`` and
is warned about, since there is no login and anyone who reaches the port watches the data
and drives the dashboard.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Final

from aiohttp import web
from textual_serve.server import Server

from app.argtypes import at_least
from app.cli import EXIT_USAGE, add_connection_args, add_dashboard_args, dashboard_setup
from app.config import ConfigError
from app.pacing import PACE_DIR_ENV
from app.recording import RecordingError
from app.redact import redact
from app.session import SHARED_SIMULATOR_ENV, SharedSimulator
from app.simulator import SimConfig, Simulator

DEFAULT_PORT: Final = 8000
PAGE_DIR: Final = Path(__file__).resolve().parent / "serve_page"
"""The page template (``app_index.html``): textual-serve's terminal, nothing fetched from
elsewhere, the websocket at the page's own address."""
TITLE: Final = "sordash"

_port = at_least(1)


def _add_serve_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; another than loopback needs --public)",
    )
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--public",
        action="store_true",
        help="allow a --host that is not loopback: anyone who can reach the port can watch "
        "the data and use the dashboard's keys (there is no login)",
    )


def serve_parser() -> argparse.ArgumentParser:
    """``sordash serve``'s options: its own and the dashboard's."""
    parser = argparse.ArgumentParser(
        prog="sordash serve",
        description="Serve the dashboard to web browsers (textual-serve). Each browser session "
        "runs its own dashboard with the options given here; the demo (the default, unless "
        "--env, --ws-url, --token-url or --replay is given) shares one simulator between them.",
        allow_abbrev=False,
    )
    _add_serve_args(parser)
    add_connection_args(parser)
    add_dashboard_args(parser)
    return parser


def split_serve_args(argv: list[str]) -> list[str]:
    """``argv`` without ``serve``'s own options: what each session's dashboard is given."""
    own = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    _add_serve_args(own)
    return own.parse_known_args(argv)[1]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (``localhost``, 127/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def public_warning(host: str, port: int) -> str:
    """What ``serve`` says before listening on an address that is not loopback."""
    return (
        f"sordash serve: WARNING: listening on {host}:{port}, not loopback: anyone who can "
        "reach this port can watch the dashboard's data and use its keys (subscribe, "
        "unsubscribe, record); there is no login"
    )


def is_demo(args: argparse.Namespace) -> bool:
    """The demo unless a Paxos endpoint or a replay is named."""
    return bool(args.demo or not (args.env or args.ws_url or args.token_url or args.replay))


def dashboard_command(child_args: list[str]) -> str:
    """The shell command textual-serve runs for each browser session: this interpreter's
    sordash, with the dashboard's options (never a secret: those go in the environment)."""
    return shlex.join([sys.executable, "-m", "sordash", *child_args])


class DashboardServer(Server):
    """textual-serve's server for our dashboard, with the demo's shared simulator."""

    def __init__(
        self, command: str, host: str, port: int, *, demo: bool, demo_seed: int | None = None
    ) -> None:
        super().__init__(command, host=host, port=port, title=TITLE, templates_path=PAGE_DIR)
        self.demo, self.demo_seed = demo, demo_seed
        self.simulator: Simulator | None = None
        """The demo's simulator, while serving."""
        self.pace_dir: str | None = None
        """The folder of the sessions' shared pace files (:mod:`app.pacing`), while serving."""

    @property
    def url(self) -> str:
        """The address to open (for a wildcard host, this machine's name)."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    async def on_startup(self, app: web.Application) -> None:
        """Start the demo's simulator, then say where to point a browser."""
        # The sessions share the API's per-IP pacing (token requests, subscriptions).
        self.pace_dir = tempfile.mkdtemp(prefix="sordash-serve-pace-")
        os.environ[PACE_DIR_ENV] = self.pace_dir
        if self.demo:
            config = SimConfig(host="127.0.0.1", port=0)
            if self.demo_seed is not None:
                config.seed = self.demo_seed
            simulator = self.simulator = Simulator(config)
            await simulator.start()
            # Each session's process is started with a copy of this environment.
            os.environ[SHARED_SIMULATOR_ENV] = SharedSimulator(
                simulator.ws_url,
                simulator.token_url,
                simulator.client_id,
                simulator.client_secret,
                list(simulator.markets),
            ).to_env()
            what = f"the demo, on one simulator shared by every session ({simulator.ws_url})"
        else:
            what = "the dashboard with the options given"
        print(f"sordash serve: {self.url} - each browser session runs {what}", flush=True)
        print(f"sordash serve: each session runs: {self.command}", flush=True)
        print("sordash serve: Ctrl+C to stop", flush=True)

    async def on_shutdown(self, app: web.Application) -> None:
        """Stop the demo's simulator."""
        simulator, self.simulator = self.simulator, None
        if simulator is not None:
            await simulator.stop()
        os.environ.pop(SHARED_SIMULATOR_ENV, None)
        os.environ.pop(PACE_DIR_ENV, None)
        if self.pace_dir is not None:
            shutil.rmtree(self.pace_dir, ignore_errors=True)


def main_serve(argv: list[str]) -> int:
    """``sordash serve``: check every option, then serve (exit 2 on a usage error)."""
    parser = serve_parser()
    args = parser.parse_args(argv)
    if args.record is not None:
        parser.error(
            "--record: every browser session would write the same file; use the record key "
            "(ctrl+r) in the page, which writes a new file in --record-dir"
        )
    if not is_loopback(args.host):
        if not args.public:
            parser.error(
                f"--host {args.host} is not a loopback address: anyone who can reach the port "
                "could watch the data and use the dashboard; add --public to serve it anyway"
            )
        print(public_warning(args.host, args.port), file=sys.stderr, flush=True)
    child_args = split_serve_args(argv)
    demo = is_demo(args)
    if demo and not args.demo:
        args.demo = True
        child_args = ["--demo", *child_args]
    try:
        dashboard_setup(args)  # the same checks a dashboard makes, before anyone connects
    except (ConfigError, RecordingError) as exc:
        print(redact(f"sordash serve: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    problem = _cannot_listen(args.host, args.port)
    if problem is not None:  # said before the demo's simulator starts, not after
        print(
            f"sordash serve: cannot listen on {args.host}:{args.port}: {problem}", file=sys.stderr
        )
        return 1
    server = DashboardServer(
        dashboard_command(child_args), args.host, args.port, demo=demo, demo_seed=args.seed
    )
    try:
        server.serve()
    except OSError as exc:  # taken between the check and now
        print(f"sordash serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on (host, port), or None when it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return str(exc)
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
            try:
                probe.bind(address)
            except OSError as exc:
                return exc.strerror or str(exc)
    return None
