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

[ladder]
columns = ["cumulative", "notional", "volume"]   # optional columns (default: cumulative)
mode = "fixed"   # or "list" (the default): see LadderConfig

[keys]          # binding id = key(s), e.g. remap subscribe to ctrl+n
subscribe = "ctrl+n"
```
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import msgspec

from app.auth import Credentials

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
    ladder: LadderConfig = msgspec.field(default_factory=LadderConfig)
    keys: dict[str, str] = msgspec.field(default_factory=dict)
    """Binding id -> key(s), comma separated, as Textual keymaps take them."""
    path: str | None = None
    """Where this config was read from (set by :func:`load_config`)."""


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
