"""``sordash stream``: JSON Lines a script can rely on, exit codes, and the real CLI."""

from __future__ import annotations

import asyncio
import io
import json
import signal
from typing import Any

from app.protocol import parse_time, to_scaled
from app.session import Session
from app.stream import EXIT_AUTH, run_stream
from tests.feedkit import (
    CLI,
    ROOT,
    WAIT,
    assert_books_match,
    cli_environ,
    make_feed,
    parse_lines,
    run_cli,
    running_sim,
    sim_credentials,
    stream_args,
    until,
)


def check_book_line(line: dict[str, Any], depth: int | None = None) -> None:
    bids = [to_scaled(p) for p, _ in line["bids"]]
    asks = [to_scaled(p) for p, _ in line["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert all(to_scaled(a) > 0 for _, a in line["bids"] + line["asks"])
    if depth is not None:
        assert len(bids) <= depth and len(asks) <= depth
    parse_time(line["time"])


async def test_stream_lines_and_final_books_equal_the_exchange() -> None:
    async with running_sim() as sim:
        feed = make_feed(sim)
        feed.subscribe("BTCUSD")
        feed.subscribe("ETHUSD")
        out = io.BytesIO()
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_stream(Session(feed), depth=None, interval=0.1, out=out, stop=stop)
        )

        def books_printed() -> bool:
            kinds = {(o["kind"], o.get("market")) for o in parse_lines(out.getvalue())}
            return {("book", "BTCUSD"), ("book", "ETHUSD"), ("tape", "BTCUSD")} <= kinds

        await until(books_printed, "book and tape lines for both markets")
        # Nothing changes from here on: the final lines must equal the simulator's books.
        await assert_books_match(feed, sim, ["BTCUSD", "ETHUSD"], resume=False)
        mark = len(out.getvalue())
        stop.set()  # what SIGTERM does (sent to a real process in the CLI test below)
        code = await asyncio.wait_for(task, WAIT)
        assert code == 0
        final = parse_lines(out.getvalue()[mark:])
        books = {o["market"]: o for o in final if o["kind"] == "book"}
        tapes = {o["market"]: o for o in final if o["kind"] == "tape"}
        # One final book per market, and a tape for every market that traded (BTCUSD has).
        assert set(books) == {"BTCUSD", "ETHUSD"} and "BTCUSD" in set(tapes) <= {"BTCUSD", "ETHUSD"}
        for market, line in books.items():
            check_book_line(line)
            sim_bids, sim_asks = sim.book(market)
            assert [(to_scaled(p), to_scaled(a)) for p, a in line["bids"]] == [
                (to_scaled(p), to_scaled(a)) for p, a in sim_bids
            ]
            assert [(to_scaled(p), to_scaled(a)) for p, a in line["asks"]] == [
                (to_scaled(p), to_scaled(a)) for p, a in sim_asks
            ]
            assert line["state"] == "LIVE"
        for tape in tapes.values():
            for trade in tape["trades"]:
                assert set(trade) == {"price", "amount", "executed_at", "inferred_side"}
            times = [parse_time(t["executed_at"]) for t in tape["trades"]]
            assert times == sorted(times, reverse=True)  # newest first
        statuses = [o for o in parse_lines(out.getvalue()) if o["kind"] == "status"]
        assert any(o.get("connection") == "connected" for o in statuses)
        assert any(o.get("state") == "active" and o.get("market") == "BTCUSD" for o in statuses)
        # Every status line says something new: the second one for a channel is the
        # server's subscription_list confirming it.
        subs = [json.dumps(o, sort_keys=True) for o in statuses if "channel" in o]
        assert len(subs) == len(set(subs)), subs
        assert any(o.get("confirmed") is True and o.get("market") == "BTCUSD" for o in statuses)


async def test_cli_demo_stream_runs_for_its_duration_and_exits_0() -> None:
    code, out, err = await run_cli(
        "stream",
        "--demo",
        "--markets",
        "BTCUSD",
        "--depth",
        "5",
        "--duration",
        "2",
        "--interval",
        "0.2",
    )
    assert code == 0, err.decode()
    lines = parse_lines(out)
    books = [o for o in lines if o["kind"] == "book"]
    assert books, "no book lines"
    for line in books:
        assert line["market"] == "BTCUSD"
        check_book_line(line, depth=5)
    last_two = {o["kind"] for o in lines[-2:]}
    assert last_two == {"book", "tape"}


async def test_cli_refused_credentials_exit_3_with_the_reason_and_no_secret() -> None:
    async with running_sim() as sim:
        code, out, err = await run_cli(
            *stream_args(sim, "--duration", "20"), env=sim_credentials(sim, "not-the-secret")
        )
        assert code == EXIT_AUTH
        assert b"authentication refused" in err and b"client id or secret" in err
        assert b"not-the-secret" not in out + err
        assert sim.token_requests == 1


async def test_cli_usage_errors_exit_2() -> None:
    code, _, err = await run_cli("stream", "--demo", "--depth", "0")
    assert code == 2 and b"--depth" in err
    code, _, err = await run_cli("stream", "--demo", "--markets", "BTC-USD")
    assert code == 2 and b"not a market name" in err
    code, _, err = await run_cli("stream", "--demo", "--channels", "trades")
    assert code == 2 and b"unknown channel" in err


async def test_cli_without_credentials_names_demo() -> None:
    code, _, err = await run_cli("stream", "--markets", "BTCUSD", "--duration", "1")
    assert code == 2
    assert b"PAXOS_CLIENT_ID" in err and b"--demo" in err


async def test_cli_sigterm_ends_the_stream_with_final_lines_and_exit_0() -> None:
    """SIGTERM to a real ``sordash stream`` (never to the test run itself): one final book
    and tape line, exit 0."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *("stream", "--demo", "--markets", "BTCUSD", "--interval", "0.1", "--depth", "3"),
        cwd=ROOT,
        env=cli_environ(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    seen = b""
    while b'"kind":"tape"' not in seen or b'"kind":"book"' not in seen:
        line = await asyncio.wait_for(proc.stdout.readline(), WAIT * 3)
        assert line, "the stream ended before printing a book and a tape line"
        seen += line
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode == 0, err.decode()
    last_two = {o["kind"] for o in parse_lines(seen + out)[-2:]}
    assert last_two == {"book", "tape"}
