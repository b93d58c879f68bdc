"""Configuration: one typed struct read from a TOML file, plus credentials from the environment.

The file is ``$SORDASH_CONFIG``, else ``$XDG_CONFIG_HOME/sordash/config.toml`` (default
``~/.config/sordash/config.toml``); it is optional. A file that holds a client secret must
not be readable by group or others: sordash refuses it with a message saying how to fix it.

```toml
markets = ["BTCUSD", "ETHUSD"]
env = "sandbox"

[credentials]
client_id = "..."
client_secret = "..."

[dashboard]
refresh_hz = 30
depth = 15
theme = "sordash-light"   # or sordash-high-contrast, or any Textual theme
record_dir = "~/recordings"   # where the record key writes (default: the user data dir)
alert_bell = true   # ring the terminal bell when an alert fires (default true)

[tape]          # how each market's tape starts (m and x change it while running)
min_size = "0"                                  # only trades of at least this amount
min_sizes = { BTCUSD = "0.5", ETHUSD = "10" }   # per market, in its base units
aggregate = false                               # one row per executed_at and price

[ladder]
columns = ["cumulative", "notional", "volume"]   # optional columns (default: cumulative)
mode = "fixed"   # or "list" (the default): see LadderConfig

[keys]          # binding id = key(s), e.g. remap subscribe to ctrl+n
subscribe = "ctrl+n"

[sizes]         # sizes to cost against the book: base units per market, exact decimals
BTCUSD = ["0.5", "5"]
notional = ["10000", "250000"]   # quote currency, for every market

[bands]         # depth bands around the mid, in basis points
bps = [10, 50, 100]

# Alerts, one table each (see app/alerts.py for when each fires and re-arms). Prices and
# sizes are exact decimals: write them as strings (or whole numbers), never 65000.5.
[[alerts]]      # bid, ask, mid or last reaching a level: above, below or crosses (either way)
kind = "price"
market = "BTCUSD"
field = "bid"
above = "65000"
rearm_bps = 5   # re-armed once back past the level by 5 bps of it (the default)

[[alerts]]      # the spread at or above N bps of the mid; "*": every market
kind = "spread"
market = "ETHUSD"
above_bps = 5   # re-armed below above_bps - rearm_bps (default: a fifth of above_bps)

[[alerts]]      # a subscribed book not LIVE (STALE, RESYNC, SYNCING, FAILED) for N s
kind = "stale"
market = "*"
seconds = 10

[[alerts]]      # a trade of at least this size (base units)
kind = "trade"
market = "BTCUSD"
size = "5"

[[alerts]]      # depth imbalance within band_bps of the mid (the header's bar) at 0.6 or more
kind = "imbalance"
market = "BTCUSD"
beyond = 0.6
side = "either"   # or "bid", "ask"
band_bps = 10     # the default; rearm = 0.1: re-armed below beyond - rearm

[[alerts]]      # the connection not up for N s
kind = "disconnected"
seconds = 5
```
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec

from app.alerts import AlertRule, rule_from_table
from app.auth import Credentials
from app.fills import DEFAULT_BANDS, FillSize, SizeKind
from app.tape import TapeSettings, parse_min_size

ENVIRONMENTS: Final = {
    "sandbox": (
        "https://oauth.sandbox.paxos.com/oauth2/token",
        "wss://ws.sandbox.paxos.com/",
    ),
    "production": ("https://oauth.paxos.com/oauth2/token", "wss://ws.paxos.com/"),
}
DEFAULT_MARKETS: Final = ("BTCUSD", "ETHUSD")
KNOWN_MARKETS: Final = (
    "BTCUSD",
    "ETHUSD",
    "BCHUSD",
    "LTCUSD",
    "LINKUSD",
    "MATICUSD",
    "AAVEUSD",
    "UNIUSD",
)


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and what to fix."""


class CredentialsConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Credentials held in the config file (the environment wins over these)."""

    client_id: str | None = None
    client_secret: str | None = None

    def __repr__(self) -> str:
        return f"CredentialsConfig(client_id={self.client_id!r}, client_secret=***)"


class DashboardConfig(msgspec.Struct, forbid_unknown_fields=True):
    """How the dashboard looks and repaints."""

    refresh_hz: float = 30.0
    depth: int = 15
    tape_size: int = 500
    """Trades kept per market (for the tape, the session figures and the large-trade
    median); the oldest go first."""
    large_trade_multiple: float = 5.0
    """A trade this many times the market's median size is highlighted."""
    theme: str = "textual-dark"
    """The colour theme: ``sordash-light``, ``sordash-high-contrast`` or any Textual theme.
    Checked against the themes there are before the dashboard starts
    (``styles.themes.check_theme``: the core does not know Textual's)."""
    record_dir: str | None = None
    """Where the record key writes its recordings (``~`` expands); None: the user's data
    directory (see :func:`app.live_recording.default_record_dir`)."""
    alert_bell: bool = True
    """Ring the terminal bell when an alert fires (the notification shows either way)."""


class BandsConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The depth bands shown around the mid."""

    bps: list[int] = msgspec.field(default_factory=lambda: list(DEFAULT_BANDS))
    """Half-widths in basis points of the mid, each from 1 to :data:`MAX_BAND_BPS`."""


NOTIONAL_KEY: Final = "notional"
"""The ``[sizes]`` key whose sizes are in the quote currency and apply to every market."""
MAX_BAND_BPS: Final = 10_000
"""The widest depth band: 100 % of the mid."""


class TapeConfig(msgspec.Struct, forbid_unknown_fields=True):
    """How each market's trade tape starts; the dashboard's keys change it per market while
    it runs (:class:`~app.tape.TapeSettings`)."""

    min_size: str = ""
    """Show only trades of at least this amount, in base units ("" or "0": every trade)."""
    min_sizes: dict[str, str] = msgspec.field(default_factory=dict)
    """Market -> its minimum size (amounts are in each market's base units); wins over
    ``min_size``."""
    aggregate: bool = False
    """Show the prints of one ``executed_at`` at one price as one row."""

    def settings_for(self, market: str) -> TapeSettings:
        """The tape settings ``market`` starts with (sizes as :func:`check_tape` left them)."""
        return TapeSettings(self.min_sizes.get(market, self.min_size), self.aggregate)


def check_tape(tape: TapeConfig) -> str | None:
    """Normalise the tape's sizes in place; what is wrong with one (None: nothing)."""
    entries = [("min_size", tape.min_size)]
    entries += [(f"min_sizes.{market}", size) for market, size in tape.min_sizes.items()]
    sizes = []
    for name, size in entries:
        try:
            sizes.append(parse_min_size(size))
        except ValueError as exc:
            return f"[tape] {name}: {exc}"
    tape.min_size = sizes[0]
    tape.min_sizes = dict(zip(tape.min_sizes, sizes[1:], strict=True))
    return None


LADDER_COLUMNS: Final = ("cumulative", "notional", "volume")
"""The depth ladder's optional columns (shown after price and amount, in this order)."""
LADDER_MODES: Final = ("list", "fixed")


class LadderConfig(msgspec.Struct, forbid_unknown_fields=True):
    """How every market's depth ladder starts (the keys change it for the session)."""

    columns: list[str] = msgspec.field(default_factory=lambda: ["cumulative"])
    """Optional columns: ``cumulative`` (running amount from the touch), ``notional``
    (price x amount) and ``volume`` (traded at the price this session, by inferred side)."""
    mode: str = "list"
    """``list``: the book's levels, best first on each side of the spread line. ``fixed``:
    every price on the market's tick (or grouping step) in a window that stands still while
    the touch moves inside it."""


def ladder_problem(ladder: LadderConfig) -> str | None:
    """What is wrong with a ``[ladder]`` table (None: nothing), naming the key."""
    for column in ladder.columns:
        if column not in LADDER_COLUMNS:
            return (
                f"[ladder] columns: unknown column {column!r}; "
                f"the columns are {', '.join(LADDER_COLUMNS)}"
            )
    if len(set(ladder.columns)) != len(ladder.columns):
        return f"[ladder] columns: a column is named twice in {ladder.columns!r}"
    if ladder.mode not in LADDER_MODES:
        return f'[ladder] mode: {ladder.mode!r} is not "list" or "fixed"'
    return None


class Config(msgspec.Struct, forbid_unknown_fields=True):
    """Everything sordash reads from its config file."""

    env: str = "sandbox"
    markets: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_MARKETS))
    known_markets: list[str] = msgspec.field(default_factory=lambda: list(KNOWN_MARKETS))
    ws_url: str | None = None
    token_url: str | None = None
    credentials: CredentialsConfig = msgspec.field(default_factory=CredentialsConfig)
    dashboard: DashboardConfig = msgspec.field(default_factory=DashboardConfig)
    tape: TapeConfig = msgspec.field(default_factory=TapeConfig)
    ladder: LadderConfig = msgspec.field(default_factory=LadderConfig)
    keys: dict[str, str] = msgspec.field(default_factory=dict)
    """Binding id -> key(s), comma separated, as Textual keymaps take them."""
    sizes: dict[str, Any] = msgspec.field(default_factory=dict)
    """Market -> sizes in its base asset, and ``notional`` -> sizes in the quote currency
    for every market: lists of decimal strings (or whole numbers), as written. Decoded as
    anything and checked by :func:`check_sizes`, so that a wrong value is refused naming
    its key (msgspec's own message does not name a dict's key); read with
    :meth:`fill_sizes`."""
    bands: BandsConfig = msgspec.field(default_factory=BandsConfig)
    alerts: list[Any] = msgspec.field(default_factory=list)
    """The ``[[alerts]]`` tables as written: decoded as anything and checked by
    :func:`check_alerts` (naming the entry, key and value), read with :meth:`alert_rules`."""
    path: str | None = None
    """Where this config was read from (set by :func:`load_config`)."""

    def fill_sizes(self, market: str) -> list[FillSize]:
        """The sizes to cost for ``market``: its base sizes, then the notional ones.

        Raises :class:`ConfigError` for a size that is not one (:func:`load_config` has
        checked a file's already; a config built in code is checked here).
        """
        sizes = _sizes(market, self.sizes.get(market, []), SizeKind.BASE)
        return sizes + _sizes(NOTIONAL_KEY, self.sizes.get(NOTIONAL_KEY, []), SizeKind.NOTIONAL)

    def alert_rules(self) -> list[AlertRule]:
        """The config's alert rules, in the file's order (their ids are ``c1``, ``c2``...).

        Raises :class:`ConfigError` for an entry that is not one (:func:`load_config` has
        checked a file's already; a config built in code is checked here).
        """
        return [_alert(number, table) for number, table in enumerate(self.alerts, 1)]


def _alert(number: int, table: object) -> AlertRule:
    """One ``[[alerts]]`` table as a rule, or a :class:`ConfigError` naming the entry (by
    its place, kind and market), the key and the value."""
    if not isinstance(table, dict):
        raise ConfigError(
            f"[[alerts]] #{number}: {table!r} is not a table; write each alert as "
            '[[alerts]] with kind = "..." and its keys'
        )
    where = " ".join(table[key] for key in ("kind", "market") if isinstance(table.get(key), str))
    try:
        return rule_from_table(table)
    except ValueError as exc:
        raise ConfigError(f"[[alerts]] #{number}{f' ({where})' if where else ''}: {exc}") from None


def check_alerts(alerts: list[Any]) -> None:
    """Raise :class:`ConfigError` for the first ``[[alerts]]`` entry that cannot be used."""
    for number, table in enumerate(alerts, 1):
        _alert(number, table)


def _sizes(key: str, values: object, kind: SizeKind) -> list[FillSize]:
    """One ``[sizes]`` entry as sizes, or a :class:`ConfigError` naming the key and value."""
    if not isinstance(values, list):
        raise ConfigError(
            f'[sizes] {key}: {values!r} is not a list of sizes; write e.g. {key} = ["0.5", "5"]'
        )
    out = []
    for value in values:
        if isinstance(value, float):
            raise ConfigError(
                f"[sizes] {key}: {value!r} is a TOML float, which is not exact; "
                f'write it as a string: "{value!r}"'
            )
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigError(
                f'[sizes] {key}: {value!r} is not a size; write decimals as strings ("0.5")'
            )
        try:
            out.append(FillSize.parse(str(value), kind))
        except ValueError as exc:
            raise ConfigError(f"[sizes] {key}: {exc}") from None
    return out


def check_sizes(sizes: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for the first ``[sizes]`` key or value that cannot be used."""
    for key, values in sizes.items():
        if key != NOTIONAL_KEY and not (
            key.isascii() and key.isalnum() and key.isupper() and 3 <= len(key) <= 12
        ):
            raise ConfigError(
                f"[sizes] {key}: not a market name (write markets as the feed does, "
                f"e.g. BTCUSD; {NOTIONAL_KEY} = [...] sizes apply to every market)"
            )
        _sizes(key, values, SizeKind.NOTIONAL if key == NOTIONAL_KEY else SizeKind.BASE)


def check_bands(bands: BandsConfig) -> None:
    """Raise :class:`ConfigError` for a ``[bands] bps`` list that cannot be used."""
    if not bands.bps:
        raise ConfigError("[bands] bps: name at least one band (or leave it out for 10, 50, 100)")
    for bps in bands.bps:
        if not 1 <= bps <= MAX_BAND_BPS:
            raise ConfigError(
                f"[bands] bps: {bps} is not a band; use whole basis points from 1 to {MAX_BAND_BPS}"
            )
    if len(set(bands.bps)) != len(bands.bps):
        twice = sorted({bps for bps in bands.bps if bands.bps.count(bps) > 1})
        raise ConfigError(f"[bands] bps: {', '.join(map(str, twice))} given more than once")


def default_config_path() -> Path:
    """Where sordash looks for its config file when none is named."""
    explicit = os.environ.get("SORDASH_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sordash" / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read the config file (``path`` or the default); a missing default file is no error.

    Raises :class:`ConfigError` for a named file that is missing, unreadable, not TOML,
    of the wrong shape, or holding a secret while readable by group or others.
    """
    named = path is not None or bool(os.environ.get("SORDASH_CONFIG"))
    target = path if path is not None else default_config_path()
    try:
        data = target.read_bytes()
        mode = target.stat().st_mode
    except FileNotFoundError:
        if named:
            raise ConfigError(f"config file {target} does not exist") from None
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {target}: {exc.strerror or exc}") from None
    try:
        config = msgspec.toml.decode(data, type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"config file {target}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"config file {target} is not valid TOML: {exc}") from None
    if config.credentials.client_secret and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"config file {target} holds a client secret but is readable by others "
            f"(mode {stat.filemode(mode)}); run: chmod 600 {target}"
        )
    dashboard = config.dashboard
    if dashboard.refresh_hz <= 0 or dashboard.depth <= 0 or dashboard.tape_size <= 0:
        raise ConfigError(f"config file {target}: refresh_hz, depth and tape_size must be positive")
    try:
        check_sizes(config.sizes)
        check_bands(config.bands)
        check_alerts(config.alerts)
    except ConfigError as exc:
        raise ConfigError(f"config file {target}: {exc}") from None
    tape_problem = check_tape(config.tape)
    if tape_problem is not None:
        raise ConfigError(f"config file {target}: {tape_problem}")
    problem = ladder_problem(config.ladder)
    if problem is not None:
        raise ConfigError(f"config file {target}: {problem}")
    for name, value, schemes in (
        ("ws_url", config.ws_url, WS_SCHEMES),
        ("token_url", config.token_url, HTTP_SCHEMES),
    ):
        problem = None if value is None else url_problem(value, schemes)
        if problem is not None:
            raise ConfigError(f"config file {target}: {name}: {problem}")
    config.path = str(target)
    return config


def credentials_from(config: Config, environ: dict[str, str] | None = None) -> Credentials | None:
    """Credentials from ``PAXOS_CLIENT_ID``/``PAXOS_CLIENT_SECRET``, else the config file."""
    env = os.environ if environ is None else environ
    client_id = env.get("PAXOS_CLIENT_ID") or config.credentials.client_id
    secret = env.get("PAXOS_CLIENT_SECRET") or config.credentials.client_secret
    if client_id and secret:
        return Credentials(client_id, secret)
    return None


def endpoints_for(config: Config, env: str | None = None) -> tuple[str, str]:
    """(token URL, WebSocket URL) for an environment name, or the config's explicit URLs."""
    name = env or config.env
    if name not in ENVIRONMENTS:
        raise ConfigError(f"unknown environment {name!r}; use one of {', '.join(ENVIRONMENTS)}")
    token_url, ws_url = ENVIRONMENTS[name]
    return (config.token_url or token_url, config.ws_url or ws_url)


WS_SCHEMES: Final = ("ws", "wss")
HTTP_SCHEMES: Final = ("http", "https")


def url_problem(text: str, schemes: tuple[str, ...]) -> str | None:
    """What is wrong with ``text`` as a URL of one of ``schemes`` (None: nothing).

    Caught up front so that a typo is a usage error, not a connection retried forever.
    """
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        if "port" in str(exc).lower():
            return f"the port in {text!r} is not a number from 1 to 65535"
        return f"not a valid URL: {text!r} ({exc})"
    expected = " or ".join(f"{s}://" for s in schemes)
    if parts.scheme not in schemes:
        return f"not a {expected} URL: {text!r}"
    if not parts.hostname:
        return f"no host in {text!r} (expected {schemes[0]}://HOST[:PORT]/...)"
    if port == 0:
        return f"port 0 in {text!r}: name the server's port"
    return None
