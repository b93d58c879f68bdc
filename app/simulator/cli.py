"""``sordash sim``: run the exchange simulator on its own until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from app.argtypes import at_least, port, positive_number
from app.protocol import INTERNAL_SERVER_ERROR
from app.simulator.server import (
    DEFAULT_MARKETS,
    LIST_DRIFTS,
    OVERSIZED_BYTES,
    OVERSIZED_MIN,
    TOKEN_GARBLES,
    SimConfig,
    Simulator,
    check_markets,
)


def _markets(text: str) -> list[str]:
    names = [m.strip().upper() for m in text.split(",") if m.strip()]
    try:
        check_markets(names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return names


_levels = at_least(0)
"""argparse type: a count of levels, zero or more."""
_frame_bytes = at_least(OVERSIZED_MIN)
"""argparse type: a frame size in bytes, at least :data:`OVERSIZED_MIN`."""


_DEFAULTS = SimConfig()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sordash sim",
        description="Run the embedded Smart Order Routing exchange simulator on its own.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=port, default=8765, help="port (0: any free port)")
    parser.add_argument(
        "--seed", type=int, default=_DEFAULTS.seed, help="seed: same seed, same stream"
    )
    parser.add_argument(
        "--markets",
        type=_markets,
        default=list(DEFAULT_MARKETS),
        help=f"comma-separated markets (default {','.join(DEFAULT_MARKETS)})",
    )
    parser.add_argument(
        "--rate",
        type=positive_number,
        default=_DEFAULTS.rate,
        help="book updates per second per market",
    )
    parser.add_argument(
        "--token-ttl", type=positive_number, default=_DEFAULTS.token_ttl, help="token lifetime (s)"
    )
    parser.add_argument(
        "--heartbeat",
        type=positive_number,
        default=_DEFAULTS.heartbeat_interval,
        help="heartbeat period (s)",
    )
    parser.add_argument("--quirks", action="store_true", help="use every equivalent spelling")
    parser.add_argument("--firehose", action="store_true", help="send as fast as clients read")
    parser.add_argument(
        "--steady", action="store_true", help="every market at exactly --rate, no bursts"
    )
    parser.add_argument("--client-id", default=None, help="accepted client id (default: demo)")
    parser.add_argument(
        "--client-secret", default=None, help="accepted client secret (default: made up)"
    )
    parser.add_argument(
        "--no-sub-rate-limit",
        action="store_true",
        help="start data for every subscription at once (no one-per-second pacing)",
    )
    parser.add_argument(
        "--pre-snapshot-updates",
        type=int,
        default=_DEFAULTS.pre_snapshot_updates,
        help="UPDATEs a new subscriber gets before its SNAPSHOT",
    )
    parser.add_argument(
        "--no-scope", action="store_true", help="fault: tokens lack the scope (handshake 403)"
    )
    parser.add_argument(
        "--refuse",
        type=int,
        choices=(401, 403),
        default=None,
        help="fault: refuse every WebSocket handshake with this status",
    )
    parser.add_argument(
        "--drop-every",
        type=positive_number,
        default=None,
        metavar="SECONDS",
        help="fault: close every connection with 1011 this often",
    )
    parser.add_argument(
        "--cut-every",
        type=positive_number,
        default=None,
        metavar="SECONDS",
        help="fault: cut every connection's TCP this often",
    )
    parser.add_argument(
        "--malformed-every",
        type=positive_number,
        default=None,
        metavar="SECONDS",
        help="fault: send a frame that is not JSON this often",
    )
    parser.add_argument(
        "--internal-error-every",
        type=positive_number,
        default=None,
        metavar="SECONDS",
        help="fault: send INTERNAL_SERVER_ERROR this often",
    )
    parser.add_argument(
        "--silent-every",
        type=positive_number,
        default=None,
        metavar="SECONDS",
        help="fault: go silent (no frames, no pongs) for 15 s this often",
    )
    parser.add_argument(
        "--garble-token",
        choices=TOKEN_GARBLES,
        default=None,
        help="fault: token endpoint answers 200 with an HTML page or a string expires_in",
    )
    parser.add_argument(
        "--echo-400",
        action="store_true",
        help="fault: token endpoint answers 400 echoing the request body (secret included)",
    )
    parser.add_argument(
        "--leak-token-every",
        type=positive_number,
        default=None,
        metavar="SECONDS",
        help="fault: send each client an error code carrying its own bearer token this often",
    )
    parser.add_argument(
        "--oversized-every",
        type=positive_number,
        default=None,
        metavar="SECONDS",
        help="fault: send each client an oversized (harmless) UPDATE frame this often",
    )
    parser.add_argument(
        "--oversized-bytes",
        type=_frame_bytes,
        default=OVERSIZED_BYTES,
        metavar="N",
        help=f"size of --oversized-every frames (default {OVERSIZED_BYTES})",
    )
    parser.add_argument(
        "--unreadable",
        type=_markets,
        default=[],
        metavar="MARKET[,MARKET]",
        help="fault: these markets' SNAPSHOTs carry a level with a 19-digit fraction",
    )
    parser.add_argument(
        "--drift-lists",
        choices=LIST_DRIFTS,
        default=None,
        help="fault: subscription_list answers omit, strip params from or add channels",
    )
    parser.add_argument(
        "--snapshot-extra-levels",
        type=_levels,
        default=_DEFAULTS.snapshot_extra_levels,
        metavar="N",
        help="add N levels per side to every SNAPSHOT (big books for benchmarks)",
    )
    parser.add_argument(
        "--flood-levels",
        type=_levels,
        default=_DEFAULTS.flood_levels,
        metavar="N",
        help="add N zero levels to each UPDATE sent before a SNAPSHOT",
    )
    return parser


async def _faults(sim: Simulator, args: argparse.Namespace) -> None:
    async def every(period: float | None, action: str) -> None:
        if period is None:
            return
        while True:
            await asyncio.sleep(period)
            logging.getLogger("sordash.sim").info("fault: %s", action)
            if action == "drop":
                await sim.drop_connections(1011)
            elif action == "cut":
                await sim.cut_connections()
            elif action == "malformed":
                await sim.send_malformed()
            elif action == "internal error":
                await sim.send_error(INTERNAL_SERVER_ERROR)
            elif action == "silent":
                sim.set_silent(True)
                await asyncio.sleep(15)
                sim.set_silent(False)
            elif action == "leak token":
                await sim.send_token_error()
            elif action == "oversized":
                await sim.send_oversized(args.oversized_bytes)

    await asyncio.gather(
        every(args.drop_every, "drop"),
        every(args.cut_every, "cut"),
        every(args.malformed_every, "malformed"),
        every(args.internal_error_every, "internal error"),
        every(args.silent_every, "silent"),
        every(args.leak_token_every, "leak token"),
        every(args.oversized_every, "oversized"),
    )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The simulator configuration the parsed ``sordash sim`` arguments ask for."""
    return SimConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        markets=args.markets,
        rate=args.rate,
        token_ttl=args.token_ttl,
        quirks=args.quirks,
        firehose=args.firehose,
        steady=args.steady,
        sub_rate_limit=not args.no_sub_rate_limit,
        heartbeat_interval=args.heartbeat,
        client_id=args.client_id,
        client_secret=args.client_secret,
        pre_snapshot_updates=args.pre_snapshot_updates,
        scope_ok=not args.no_scope,
        token_garble=args.garble_token,
        echo_400=args.echo_400,
        unreadable_markets=args.unreadable,
        list_drift=args.drift_lists,
        snapshot_extra_levels=args.snapshot_extra_levels,
        flood_levels=args.flood_levels,
    )


async def _serve(args: argparse.Namespace) -> None:
    sim = Simulator(config_from_args(args))
    await sim.start()
    sim.refuse_handshakes(args.refuse)
    print(f"token URL:      {sim.token_url}", flush=True)
    print(f"WebSocket URL:  {sim.ws_url}", flush=True)
    if args.client_secret is None:
        # Made-up demo credentials are only good for this simulator; print them so that any
        # client (the Paxos guide's examples too) can be pointed at it. Given ones are not
        # echoed: they may be someone's real secret.
        print(f"client id:      {sim.client_id}", flush=True)
        print(f"client secret:  {sim.client_secret}", flush=True)
    else:
        print(f"client id:      {sim.client_id} (secret as given)", flush=True)
    print(f"markets:        {', '.join(sim.markets)}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    faults = asyncio.create_task(_faults(sim, args))
    try:
        await stop.wait()
    finally:
        faults.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await faults
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM; 0 on a clean stop, 2 on a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not_run := [m for m in args.unreadable if m not in args.markets]:
        parser.error(f"argument --unreadable: not among --markets: {','.join(not_run)}")
    # force: `sordash sim` comes through app.cli, which has configured logging already
    # (warnings only); without it every connection and subscription line was lost.
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    try:
        asyncio.run(_serve(args))
    except OSError as exc:
        print(f"sordash sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
