"""The ``sordash`` command line: the dashboard (default), ``stream``, ``sim`` and ``serve``.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error, 3 authentication
refused. Errors name what to fix; secrets never appear in any of them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from app.alerts import AlertEngine
from app.argtypes import positive_number as _positive
from app.argtypes import token_url as _token_url
from app.argtypes import ws_url as _ws_url
from app.config import (
    ENVIRONMENTS,
    Config,
    ConfigError,
    load_config,
)
from app.protocol import MARKET_CHANNELS
from app.recording import RecordingError
from app.redact import RedactingFormatter, redact, redact_handlers
from app.session import Session, SessionOptions, shared_simulator_from_env

EXIT_USAGE = 2


def _markets(text: str) -> list[str]:
    markets = [m.strip().upper() for m in text.split(",") if m.strip()]
    for market in markets:
        if not (market.isascii() and market.isalnum() and 3 <= len(market) <= 12):
            raise argparse.ArgumentTypeError(f"not a market name: {market!r}")
    return markets


def _channels(text: str) -> tuple[str, ...]:
    channels = tuple(c.strip() for c in text.split(",") if c.strip())
    for ch in channels:
        if ch not in MARKET_CHANNELS:
            raise argparse.ArgumentTypeError(
                f"unknown channel {ch!r}; use market_data and/or execution_data"
            )
    return channels


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    """Where a feed connects, what it subscribes, records or replays (every command's)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--demo", action="store_true", help="run the embedded exchange simulator and connect to it"
    )
    where.add_argument(
        "--env",
        choices=sorted(ENVIRONMENTS),
        help="Paxos environment (default: sandbox, or the config's env)",
    )
    parser.add_argument("--ws-url", type=_ws_url, help="WebSocket URL (overrides --env)")
    parser.add_argument("--token-url", type=_token_url, help="OAuth2 token URL (overrides --env)")
    parser.add_argument(
        "--markets",
        type=_markets,
        default=None,
        help="comma-separated markets to subscribe, e.g. BTCUSD,ETHUSD",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="config file (default: $SORDASH_CONFIG or ~/.config/sordash/config.toml)",
    )
    parser.add_argument("--seed", type=int, default=None, help="demo: simulator seed")
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="FILE",
        help="record every received frame to FILE (a new file)",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="FILE",
        help="replay a recording instead of connecting",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="log every state change, reconnect, server error, unreadable frame and resync "
        "to FILE (without it the dashboard keeps warnings off its screen and the stream "
        "prints them on stderr); secrets are redacted",
    )
    parser.add_argument(
        "--replay-speed",
        type=float,
        default=1.0,
        metavar="X",
        help="replay pace (1 = as recorded, 0 = as fast as possible)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sordash",
        description="Terminal dashboard for the Paxos Smart Order Routing WebSocket API. "
        "Subcommands: `sordash stream --help`, `sordash sim --help`, `sordash serve --help`.",
    )
    add_connection_args(parser)
    add_dashboard_args(parser)
    return parser


def add_dashboard_args(parser: argparse.ArgumentParser) -> None:
    """The options of the dashboard beyond the connection's (``sordash`` and ``serve``)."""
    parser.add_argument(
        "--record-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the record key (ctrl+r) writes its recordings (default: the config's "
        "[dashboard] record_dir, else the user data directory)",
    )
    parser.add_argument(
        "--theme",
        default=None,
        metavar="NAME",
        help="colour theme: sordash-light, sordash-high-contrast or any Textual theme "
        "(default: the config's [dashboard] theme, else textual-dark)",
    )


def _stream_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sordash stream",
        description="Reconciled books and trades as JSON Lines on stdout.",
    )
    add_connection_args(parser)
    parser.add_argument(
        "--channels",
        type=_channels,
        default=None,
        help="market_data,execution_data (default: both)",
    )
    parser.add_argument(
        "--depth", type=int, default=None, help="levels per side in book lines (default: all)"
    )
    parser.add_argument(
        "--interval",
        type=_positive,
        default=1.0,
        help="seconds between lines for one market (default 1)",
    )
    parser.add_argument(
        "--duration",
        type=_positive,
        default=None,
        help="stop after this many seconds (default: until SIGINT/SIGTERM)",
    )
    return parser


def _session(
    args: argparse.Namespace, channels: tuple[str, ...] | None = None
) -> tuple[Session, Config]:
    config = load_config(args.config)
    options = SessionOptions(
        demo=args.demo,
        env=args.env,
        ws_url=args.ws_url,
        token_url=args.token_url,
        markets=args.markets or [],
        seed=args.seed,
        record=args.record,
        replay=args.replay,
        replay_speed=args.replay_speed,
        shared_simulator=shared_simulator_from_env() if args.demo else None,
    )
    if channels:
        options.channels = channels
    return Session.create(options, config), config


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sordash`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    redact_handlers()
    if args_list[:1] == ["sim"]:
        from app.simulator.cli import main as sim_main

        return sim_main(args_list[1:])
    if args_list[:1] == ["stream"]:
        return _main_stream(args_list[1:])
    if args_list[:1] == ["serve"]:
        from app.serve import main_serve

        return main_serve(args_list[1:])
    return _main_dashboard(args_list)


def _main_stream(argv: list[str]) -> int:
    parser = _stream_parser()
    args = parser.parse_args(argv)
    if args.depth is not None and args.depth <= 0:
        parser.error("--depth must be positive")
    try:
        session, config = _session(args, args.channels)
        alerts = AlertEngine.open(config.alert_rules())
    except (ConfigError, RecordingError) as exc:
        print(redact(f"sordash: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    if alerts.file is not None and alerts.file.problem:
        print(redact(f"sordash: alerts: {alerts.file.problem}"), file=sys.stderr)
    if args.log_file is not None and not _redirect_logs(args.log_file):
        return EXIT_USAGE
    from app.stream import run_stream

    try:
        return asyncio.run(
            run_stream(
                session,
                depth=args.depth,
                interval=args.interval,
                duration=args.duration,
                alerts=alerts,
            )
        )
    except KeyboardInterrupt:
        return 0


def logs_off_the_screen(log_file: Path | None) -> None:
    """While the dashboard owns the terminal, log records must not be written to it: a
    warning on stderr lands in the middle of the screen and stays there. They go to
    ``log_file`` when one is given, nowhere otherwise (the screen shows the same states)."""
    handler: logging.Handler
    if log_file is None:
        handler = logging.NullHandler()
    else:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # A log file gets every state change and resync (INFO); aiohttp's own chatter stays out.
    root.setLevel(logging.INFO if log_file is not None else logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)


def _redirect_logs(log_file: Path | None) -> bool:
    """:func:`logs_off_the_screen`, saying on stderr why not when the file is unwritable."""
    try:
        logs_off_the_screen(log_file)
    except OSError as exc:
        print(f"sordash: cannot write the log file {log_file}: {exc}", file=sys.stderr)
        return False
    return True


def dashboard_setup(args: argparse.Namespace) -> tuple[Session, Config]:
    """The dashboard's session and config from its parsed options, every option checked
    (the config file, the keymap, the theme). Raises :class:`ConfigError` or
    :class:`RecordingError` with a message naming what to fix; connects to nothing."""
    session, config = _session(args)
    from app.keymap import check_keymap
    from styles.themes import check_theme

    where = f"config file {config.path}" if config.path else "the config"
    check_keymap(config.keys, where)
    if args.record_dir is not None:
        config.dashboard.record_dir = str(args.record_dir)
    if args.theme is not None:
        config.dashboard.theme = args.theme
        check_theme(args.theme, "--theme")
    else:
        check_theme(config.dashboard.theme, f"{where}: [dashboard] theme")
    return session, config


def _main_dashboard(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        session, config = dashboard_setup(args)
    except (ConfigError, RecordingError) as exc:
        print(redact(f"sordash: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    from app.dashboard import DashboardApp

    if not _redirect_logs(args.log_file):
        return EXIT_USAGE
    app = DashboardApp(session, config=config)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    raise SystemExit(main())
