"""A Session: the FeedClient plus, in demo mode, the embedded simulator it talks to.

The dashboard and ``sordash stream`` both build one from the command line and the config,
run it, and stop it. Building never touches the network; :meth:`Session.run` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec

from app.auth import Credentials
from app.config import Config, ConfigError, credentials_from, endpoints_for
from app.feed import DEFAULT_CHANNELS, FeedClient
from app.recording import Recorder, RecordingError, RecordingReader
from app.replay import ReplayTransport, begin_replay, finish_replay
from app.tape import TapeStore

if TYPE_CHECKING:
    from app.simulator import Simulator


class NoCredentials(ConfigError):
    """Neither the environment nor the config file holds Paxos credentials."""


SHARED_SIMULATOR_ENV: Final = "SORDASH_DEMO_SIMULATOR"
"""Set by ``sordash serve`` for its dashboards: the simulator they share (JSON of
:class:`SharedSimulator`). In the environment, never on a command line: it holds the
simulator's client secret, and a process's arguments are visible to every user (``ps``)."""


@dataclass(frozen=True)
class SharedSimulator:
    """A simulator run by another process for demo dashboards to share (``sordash serve``)."""

    ws_url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    markets: list[str] = field(default_factory=list)

    def to_env(self) -> str:
        """The value of :data:`SHARED_SIMULATOR_ENV` that names this simulator."""
        return msgspec.json.encode(self).decode()


def shared_simulator_from_env(environ: dict[str, str] | None = None) -> SharedSimulator | None:
    """The simulator named by :data:`SHARED_SIMULATOR_ENV`, or None when it is unset.

    Raises :class:`ConfigError` when it is set to something unreadable (never quoting it).
    """
    text = (os.environ if environ is None else environ).get(SHARED_SIMULATOR_ENV)
    if not text:
        return None
    try:
        return msgspec.json.decode(text, type=SharedSimulator)
    except msgspec.DecodeError:
        raise ConfigError(
            f"{SHARED_SIMULATOR_ENV} is set but is not a simulator's description "
            "(it is set by `sordash serve`; unset it to run the demo's own simulator)"
        ) from None


@dataclass
class SessionOptions:
    """What the command line asked for."""

    demo: bool = False
    env: str | None = None
    ws_url: str | None = None
    token_url: str | None = None
    markets: list[str] = field(default_factory=list)
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    seed: int | None = None
    """Demo mode: the simulator's seed (random when None)."""
    record: Path | None = None
    """Append every received frame to this new file."""
    replay: Path | None = None
    """Play a recording instead of connecting."""
    replay_speed: float = 1.0
    """Replay pace relative to the recording; 0 means as fast as possible."""
    shared_simulator: SharedSimulator | None = None
    """Demo mode: connect to this running simulator instead of starting one."""


class Session:
    """A feed and, in demo mode, the simulator it is pointed at."""

    def __init__(
        self,
        feed: FeedClient,
        simulator: Simulator | None = None,
        *,
        recorder: Recorder | None = None,
        replay: Path | None = None,
        replay_speed: float = 1.0,
    ) -> None:
        self.feed = feed
        self.simulator = simulator
        self.recorder = recorder
        self.replay = replay
        self.replay_speed = replay_speed
        self.transport: ReplayTransport | None = None
        """The dashboard's control of a replay (:meth:`use_transport`); None: a replay
        plays straight through (``sordash stream``)."""
        self.on_recording_error: list[Callable[[str], None]] = []
        """Told (on the loop) when ``--record`` stops on an error (the disk full, the file
        broken), besides the feed's error event: the stream prints it on stderr, the
        dashboard shows it."""
        self._stop = asyncio.Event()
        if recorder is not None:
            recorder.on_error = self._recording_failed

    def _recording_failed(self, message: str) -> None:
        """The recorder stopped: the feed stops handing it frames, and everyone is told."""
        if self.recorder is not None and self.feed.recorder is self.recorder:
            self.feed.recorder = None
        self.feed.report_error(message)
        for callback in list(self.on_recording_error):
            callback(message)

    @classmethod
    def create(cls, options: SessionOptions, config: Config | None = None) -> Session:
        """Build (without connecting) from options and config.

        Raises :class:`NoCredentials` (naming ``--demo``) or :class:`ConfigError`.
        """
        config = config if config is not None else Config()
        if options.replay is not None:
            feed = FeedClient(
                tape=TapeStore(config.dashboard.tape_size),
                label=f"replay {options.replay}",
                adopt_channels=True,
                heartbeat_channel=False,
                known_markets=config.known_markets,
            )
            return cls(feed, replay=options.replay, replay_speed=options.replay_speed)
        markets = options.markets or list(config.markets)
        simulator: Simulator | None = None
        credentials: Credentials | None
        shared = options.shared_simulator
        if options.demo and shared is not None:
            credentials = Credentials(shared.client_id, shared.client_secret)
            token_url, ws_url, label = shared.token_url, shared.ws_url, f"demo {shared.ws_url}"
            known = list(shared.markets)
        elif options.demo:
            from app.simulator import SimConfig, Simulator

            sim_config = SimConfig(host="127.0.0.1", port=0)
            if options.seed is not None:
                sim_config.seed = options.seed
            simulator = Simulator(sim_config)
            credentials, token_url, ws_url, label = None, None, None, "demo"
            known = list(simulator.markets)
        else:
            credentials = credentials_from(config)
            if credentials is None:
                where = config.path or "the config file"
                raise NoCredentials(
                    "no Paxos credentials: set PAXOS_CLIENT_ID and PAXOS_CLIENT_SECRET "
                    f"(or put them in {where}), or run `sordash --demo` to use the embedded "
                    "exchange simulator"
                )
            token_url, ws_url = endpoints_for(config, options.env)
            token_url = options.token_url or token_url
            ws_url = options.ws_url or ws_url
            label = ws_url if options.ws_url or options.token_url else options.env or config.env
            known = list(config.known_markets)
        feed = FeedClient(
            credentials,
            token_url,
            ws_url,
            label=label,
            known_markets=known,
            tape=TapeStore(config.dashboard.tape_size),
        )
        subscribe_all(feed, markets, options.channels)
        recorder = None
        if options.record is not None:
            recorder = Recorder(
                options.record,
                source=label,
                markets=list(markets),
                channels=list(feed.subscriptions),
            )
            feed.recorder = recorder
        return cls(feed, simulator, recorder=recorder)

    def use_transport(self) -> ReplayTransport:
        """Play the replay under a transport (pause, speeds, seeks) instead of straight
        through; only for a session that replays."""
        if self.replay is None:
            raise ValueError("only a replay has a transport")
        if self.transport is None:
            self.transport = ReplayTransport(self.feed, self.replay, speed=self.replay_speed)
        return self.transport

    async def run(self) -> None:
        """Start the simulator (demo), then run the feed until :meth:`stop`."""
        if self.transport is not None:
            await self.transport.run()
            return
        if self.replay is not None:
            await self._run_replay(self.replay)
            return
        simulator = self.simulator
        try:
            if simulator is not None:
                await simulator.start()
                feed = self.feed
                feed.token_url = simulator.token_url
                feed.ws_url = simulator.ws_url
                feed.credentials = Credentials(simulator.client_id, simulator.client_secret)
                feed.label = f"demo {simulator.ws_url}"
            await self.feed.run()
        finally:
            if self.recorder is not None:
                self.recorder.close()
            if simulator is not None:
                with contextlib.suppress(Exception):
                    await simulator.stop()

    async def _run_replay(self, path: Path) -> None:
        """Feed a recording through the pipeline at its own pace (scaled), then return.

        Records are read on a worker thread, a batch at a time, and the loop is yielded
        to between batches and between paced waits: even at full speed the screen repaints
        and a key is answered. A format-2 recording says where each connection began and
        ended and what was sent: the feed goes through the same states (STALE on a drop,
        SYNCING until the new SNAPSHOT) and matches answers as the live client did. A
        format-1 recording (frames only) is replayed as one connection.
        """
        feed = self.feed
        reader = RecordingReader(path)
        runs = reader.runs(REPLAY_BATCH)
        run = await asyncio.to_thread(next, runs, None)
        header = reader.header
        assert header is not None  # the first run read it (or raised)
        begin_replay(feed, header, path)
        speed = self.replay_speed
        replay = feed.replay_run
        now = time.monotonic
        first_t: int | None = None
        started = yielded = now()
        while run is not None and not self._stop.is_set():
            # The next run is read (decompressed, split) on the thread while this one plays.
            upcoming = asyncio.ensure_future(asyncio.to_thread(next, runs, None))
            times, at, end = run.times, 0, len(run)
            while at < end:
                stop = min(end, at + REPLAY_SLICE)
                if speed > 0:
                    if first_t is None:
                        first_t = times[0]
                    # The records due within 2 ms (sleep in batches, not per frame).
                    due = first_t + (now() - started + 0.002) * speed * 1e9
                    last, stop = stop, at
                    while stop < last and times[stop] <= due:
                        stop += 1
                    if stop == at:
                        await asyncio.sleep(started + (times[at] - first_t) / 1e9 / speed - now())
                        yielded = now()
                        continue
                replay(run, at, stop)
                at = stop
                if now() - yielded > YIELD_EVERY:
                    await asyncio.sleep(0)  # let the screen and the keys have the loop
                    yielded = now()
                    if self._stop.is_set():
                        break
            if self._stop.is_set():
                with contextlib.suppress(RecordingError):
                    await upcoming
                break
            run = await upcoming
        finish_replay(feed, path, reader.cut_short)

    async def stop(self) -> None:
        """Stop the feed (and so :meth:`run`)."""
        self._stop.set()
        if self.transport is not None:
            await self.transport.stop()
        await self.feed.stop()


YIELD_EVERY = 0.01
"""Seconds of replaying at full speed before the loop is handed to the screen once."""
REPLAY_BATCH = 8000
"""Records read per trip to the reading thread (the next trip's while these play): 2,000
were read too late about every other time, the thread waiting for the GIL up to 5 ms at
each call of its that releases it."""
REPLAY_SLICE = 128
"""Records replayed between two looks at the clock (pacing, the loop's turn): 1-2 ms."""


def subscribe_all(feed: FeedClient, markets: Iterable[str], channels: Iterable[str]) -> None:
    """Subscribe each market's channels (works before the feed connects)."""
    wanted = tuple(channels)
    for market in markets:
        feed.subscribe(market, wanted)
