"""Alerts: rules a trader sets on the feed's state, evaluated on each refresh, headless.

A rule (:data:`AlertRule`) is a frozen ``msgspec.Struct`` tagged by ``kind``: the config
file's ``[[alerts]]`` tables (:func:`rule_from_table`) and the alerts file of rules made at
runtime both decode to one. :class:`AlertEngine` holds the rules with their states and,
given the time and a feed (:class:`FeedView`: a :class:`~app.feed.FeedClient` is one), says
which fired (:meth:`AlertEngine.evaluate`). The dashboard and ``sordash stream`` both call it
on their refresh clocks; nothing here runs by itself.

The kinds, and when each fires:

- ``price``: a market's ``bid``, ``ask``, ``mid`` or ``last`` (the newest trade) reaches a
  level: ``above`` (going up), ``below`` (going down) or ``crosses`` (either way). Exact
  integer arithmetic in the book's 10**-18 units.
- ``spread``: a market's spread reaches ``above_bps`` basis points of its mid (exact).
- ``imbalance``: the depth imbalance within ``band_bps`` of the mid (what the header's bar
  shows: :func:`app.fills.depth_bands`, the narrowest band, (bids - asks) / (bids + asks)
  by amount) reaches ``beyond`` on the bid side, the ask side or either (exact). Read as
  often as the bar, every :data:`IMBALANCE_INTERVAL` seconds while the book changes.
- ``trade``: a trade of at least ``size`` (base units) arrives: one alert per refresh
  naming the largest and how many.
- ``stale``: a subscribed market's book is not LIVE (STALE, RESYNC, SYNCING, or its
  market_data subscription FAILED) for ``seconds``.
- ``disconnected``: the connection is not up (connecting, reconnecting, refused, failed:
  not IDLE before the start nor STOPPED on purpose) for ``seconds``.

``spread``, ``imbalance`` and ``stale`` may name the market ``"*"``: every market, each
with its own state. Book readings (price from the book, spread, imbalance) are taken only
from LIVE books: a stale book's prices say nothing about now.

**Hysteresis.** A rule that fired does not fire again until it re-arms:

- a price rule re-arms once the value is back on the far side of the level by more than
  ``rearm_bps`` of the level (default :data:`PRICE_REARM_BPS`): ``above 65000`` fires at
  65000 and re-arms below 64967.5. A ``crosses`` rule has one trigger each way: on its
  first reading it arms the way the value would have to go (below the level: up), and
  after firing one way it arms the other way once the value is past the level by the
  margin on the side it went to. ``above``/``below`` fire on their first reading when the
  value is already there (a rule set on the wrong side says so at once); ``crosses`` never
  fires on its first reading.
- ``spread`` re-arms below ``above_bps - rearm_bps`` (default a fifth of ``above_bps``),
  ``imbalance`` below ``beyond - rearm`` (default :data:`IMBALANCE_REARM`).
- ``stale`` and ``disconnected`` re-arm when the condition clears; ``trade`` is re-armed
  at once (each large trade is news).

Operations (:class:`AlertEngine`): add, mute, unmute, re-arm, delete. Muted rules are not
evaluated; unmuting or re-arming starts a rule afresh, as if just added. Rules made at
runtime and whether each is muted persist (:class:`SavedAlerts`, in ``alerts.json`` in the
user's state directory, through :class:`~app.state_file.StateFile`); the config's rules come
from the config at each start and only their mutes are kept (by the rule's content, so an
edited rule starts unmuted). Fired states are never kept: they describe a session.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, NamedTuple, Protocol

import msgspec

from app.books import Book, BookState, BookStore
from app.events import ConnectionState, Subscription, SubState
from app.fills import band_amounts
from app.protocol import MARKET_DATA, ChannelKey, DecimalFormatError, format_scaled, to_scaled
from app.state_file import StateFile, default_state_dir
from app.tape import MarketTape, TapeStore

ALL_MARKETS: Final = "*"
"""The market of a rule that watches every market (``spread``, ``imbalance``, ``stale``)."""
PRICE_REARM_BPS: Final = 5.0
"""How far back past its level (basis points of the level) a price must go to re-arm."""
SPREAD_REARM_SHARE: Final = Fraction(1, 5)
"""A spread rule re-arms this share of its threshold below it, unless it says otherwise."""
IMBALANCE_REARM: Final = 0.1
"""How far back inside its ratio an imbalance must go to re-arm."""
IMBALANCE_INTERVAL: Final = 0.5
"""Seconds between two readings of a changing book's depth bands (see :class:`_BandReader`):
the pace of the header's imbalance bar."""
IMBALANCE_BAND_BPS: Final = 10
"""The band an imbalance rule reads unless it says otherwise: the header's bar's band by
default (the narrowest of ``[bands]``, 10 bps)."""
BPS: Final = 10_000
DISCONNECTED_STATES: Final = frozenset(
    {
        ConnectionState.AUTHENTICATING,
        ConnectionState.CONNECTING,
        ConnectionState.RECONNECTING,
        ConnectionState.AUTH_FAILED,
        ConnectionState.FAILED,
    }
)
"""Connection states a ``disconnected`` rule counts (IDLE and STOPPED are not losses)."""


class AlertError(Exception):
    """An alert operation that cannot be done (unknown id, deleting a config rule)."""


class PriceField(enum.Enum):
    """Which price a ``price`` rule watches."""

    BID = "bid"
    ASK = "ask"
    MID = "mid"
    LAST = "last"
    """The newest trade's price (by ``executed_at``)."""


class ImbalanceSide(enum.Enum):
    """Which way an ``imbalance`` rule looks: more bids, more asks, or either."""

    BID = "bid"
    ASK = "ask"
    EITHER = "either"


def is_market_name(text: str) -> bool:
    """A market as the feed spells it: BTCUSD (upper-case letters and digits, 3 to 12)."""
    return text.isascii() and text.isalnum() and text.isupper() and 3 <= len(text) <= 12


def _market(market: str, everywhere: bool) -> None:
    if market == ALL_MARKETS and everywhere:
        return
    if market == ALL_MARKETS:
        raise ValueError(
            f'market = "{ALL_MARKETS}": this kind needs one market (its levels are its own)'
        )
    if not is_market_name(market):
        also = f', or "{ALL_MARKETS}" for every market' if everywhere else ""
        raise ValueError(f"market = {market!r}: not a market name (e.g. BTCUSD{also})")


def _named(market: str) -> str:
    return "every market:" if market == ALL_MARKETS else market


def _decimal(key: str, text: str) -> int:
    try:
        units = to_scaled(text)
    except DecimalFormatError as exc:
        raise ValueError(f"{key} = {text!r}: {exc}") from None
    if units <= 0:
        raise ValueError(f"{key} = {text!r}: must be more than zero")
    return units


def _number(key: str, value: float, low: float, high: float, low_open: bool = True) -> None:
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        edge = "more than" if low_open else "at least"
        raise ValueError(f"{key} = {value!r}: must be {edge} {low:g} and at most {high:g}")


def exact(value: float) -> Fraction:
    """A config number as the decimal it was written as (0.6 is 3/5, not the float's binary
    approximation): thresholds compare exactly against integer units."""
    return Fraction(repr(value))


class _Rule(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, tag_field="kind"
):
    """What every rule kind shares (tagged by ``kind`` in files)."""

    def describe(self) -> str:
        """The rule in a few words, for a panel or a log line."""
        raise NotImplementedError


class PriceAlert(_Rule, frozen=True, tag="price"):
    """A price reaching a level; exactly one of ``above``, ``below``, ``crosses``."""

    market: str
    field: PriceField
    above: str | None = None
    below: str | None = None
    crosses: str | None = None
    rearm_bps: float = PRICE_REARM_BPS
    """How far back past the level, in basis points of it, the price must go to re-arm."""

    def __post_init__(self) -> None:
        _market(self.market, False)
        given = [
            (key, text)
            for key, text in (
                ("above", self.above),
                ("below", self.below),
                ("crosses", self.crosses),
            )
            if text is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give the level as exactly one of above, below or crosses"
                + (f" (not {' and '.join(key for key, _ in given)})" if given else "")
            )
        _decimal(*given[0])
        _number("rearm_bps", self.rearm_bps, 0.0, 1000.0, low_open=False)

    @property
    def way(self) -> str:
        """``above``, ``below`` or ``crosses``."""
        return (
            "above" if self.above is not None else "below" if self.below is not None else "crosses"
        )

    @property
    def level(self) -> str:
        """The level as written."""
        text = self.above or self.below or self.crosses
        assert text is not None  # __post_init__ saw to it
        return text

    def describe(self) -> str:
        return f"{self.market} {self.field.value} {self.way} {self.level}"


class SpreadAlert(_Rule, frozen=True, tag="spread"):
    """A spread reaching ``above_bps`` basis points of the mid."""

    market: str
    above_bps: float
    rearm_bps: float | None = None
    """Re-arms below ``above_bps - rearm_bps`` (None: a fifth of ``above_bps``)."""

    def __post_init__(self) -> None:
        _market(self.market, True)
        _number("above_bps", self.above_bps, 0.0, float(BPS))
        if self.rearm_bps is not None and not 0 <= self.rearm_bps < self.above_bps:
            raise ValueError(
                f"rearm_bps = {self.rearm_bps!r}: must be at least 0 and less than "
                f"above_bps ({self.above_bps:g})"
            )

    @property
    def rearm_below(self) -> Fraction:
        """The spread in bps below which a fired rule re-arms, exact."""
        above = exact(self.above_bps)
        margin = above * SPREAD_REARM_SHARE if self.rearm_bps is None else exact(self.rearm_bps)
        return above - margin

    def describe(self) -> str:
        return f"{_named(self.market)} spread above {self.above_bps:g} bps"


class StaleAlert(_Rule, frozen=True, tag="stale"):
    """A subscribed book not LIVE (STALE, RESYNC, SYNCING, FAILED) for ``seconds``."""

    market: str
    seconds: float

    def __post_init__(self) -> None:
        _market(self.market, True)
        _number("seconds", self.seconds, 0.0, 86_400.0)

    def describe(self) -> str:
        return f"{_named(self.market)} book not live for {self.seconds:g} s"


class TradeAlert(_Rule, frozen=True, tag="trade"):
    """A trade of ``size`` (base units) or more."""

    market: str
    size: str

    def __post_init__(self) -> None:
        _market(self.market, False)
        _decimal("size", self.size)

    def describe(self) -> str:
        return f"{self.market} trade of {self.size} or more"


class ImbalanceAlert(_Rule, frozen=True, tag="imbalance"):
    """Depth imbalance within ``band_bps`` of the mid reaching ``beyond`` (0 to 1)."""

    market: str
    beyond: float
    side: ImbalanceSide = ImbalanceSide.EITHER
    band_bps: int = IMBALANCE_BAND_BPS
    rearm: float = IMBALANCE_REARM
    """Re-arms once the imbalance is below ``beyond - rearm``."""

    def __post_init__(self) -> None:
        _market(self.market, True)
        _number("beyond", self.beyond, 0.0, 1.0)
        if not 1 <= self.band_bps <= BPS:
            raise ValueError(
                f"band_bps = {self.band_bps!r}: must be whole basis points from 1 to {BPS}"
            )
        if not 0 <= self.rearm < self.beyond:
            raise ValueError(
                f"rearm = {self.rearm!r}: must be at least 0 and less than beyond ({self.beyond:g})"
            )

    def describe(self) -> str:
        way = "either side" if self.side is ImbalanceSide.EITHER else f"{self.side.value} side"
        within = f"{way}, {self.band_bps} bps"
        return f"{_named(self.market)} imbalance beyond {self.beyond:g} ({within})"


class DisconnectedAlert(_Rule, frozen=True, tag="disconnected"):
    """The connection not up for ``seconds``."""

    seconds: float

    def __post_init__(self) -> None:
        _number("seconds", self.seconds, 0.0, 86_400.0)

    def describe(self) -> str:
        return f"feed disconnected for {self.seconds:g} s"


AlertRule = PriceAlert | SpreadAlert | StaleAlert | TradeAlert | ImbalanceAlert | DisconnectedAlert
"""Any rule, as the config and the alerts file hold it."""
RULE_KINDS: Final[dict[str, type[_Rule]]] = {
    "price": PriceAlert,
    "spread": SpreadAlert,
    "stale": StaleAlert,
    "trade": TradeAlert,
    "imbalance": ImbalanceAlert,
    "disconnected": DisconnectedAlert,
}

# --------------------------------------------------------------------------- from a table

_DECIMALS: Final = frozenset({"above", "below", "crosses", "size"})
"""Keys holding exact decimals: strings (or whole numbers), never TOML floats."""
_NUMBERS: Final = frozenset({"above_bps", "rearm_bps", "seconds", "beyond", "rearm"})
_WHOLE: Final = frozenset({"band_bps"})
_CHOICES: Final[dict[str, type[enum.Enum]]] = {"field": PriceField, "side": ImbalanceSide}


def rule_from_table(table: Mapping[str, Any]) -> AlertRule:
    """A rule from a config table (or a dialog's fields): ``ValueError`` names the key and
    value that cannot be used and says what would do."""
    kind = table.get("kind")
    if kind not in RULE_KINDS:
        said = "no kind" if kind is None else f"kind = {kind!r} is not an alert kind"
        raise ValueError(f"{said}; use one of {', '.join(RULE_KINDS)}")
    cls = RULE_KINDS[kind]
    keys = msgspec.structs.fields(cls)
    allowed = [f.name for f in keys]
    required = [f.name for f in keys if f.required]
    clean: dict[str, Any] = {"kind": kind}
    for key, value in table.items():
        if key == "kind":
            continue
        if key not in allowed:
            raise ValueError(f"{key}: not a key of a {kind} alert; it takes {', '.join(allowed)}")
        clean[key] = _value(key, value)
    missing = [key for key in required if key not in clean]
    if missing:
        raise ValueError(f"a {kind} alert needs {' and '.join(missing)}")
    try:
        rule: AlertRule = msgspec.convert(clean, AlertRule)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).removesuffix(" - at `$`")) from None
    return rule


def _value(key: str, value: object) -> object:
    """One table value checked for its key's type, with a message naming both."""
    if key in _DECIMALS:
        if isinstance(value, float):
            raise ValueError(
                f"{key} = {value!r} is a TOML float, which is not exact; "
                f'write it as a string: {key} = "{value!r}"'
            )
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f'{key} = {value!r} is not a decimal; write it as a string ("0.5")')
        return str(value)
    if key in _NUMBERS or key in _WHOLE:
        whole = key in _WHOLE
        if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
            what = "a whole number" if whole else "a number"
            raise ValueError(f"{key} = {value!r} is not {what}")
        return value
    if key in _CHOICES:
        choices = [str(member.value) for member in _CHOICES[key]]
        if value not in choices:
            raise ValueError(f"{key} = {value!r}: use one of {', '.join(choices)}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{key} = {value!r} is not text")
    return value


def rule_key(rule: AlertRule) -> str:
    """The rule's content as one canonical line (defaults left out): how a config rule's
    mute is found again at the next start, and not for an edited rule."""
    return msgspec.json.encode(rule).decode()


# --------------------------------------------------------------------------- from a form

FORM_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "price": ("market", "field", "way", "level"),
    "spread": ("market", "above_bps"),
    "stale": ("market", "seconds"),
    "trade": ("market", "size"),
    "imbalance": ("market", "beyond", "side", "band_bps"),
    "disconnected": ("seconds",),
}
"""The fields a dialog asks for, per kind (the rest take their defaults). ``way`` and
``level`` make a price rule's ``above``, ``below`` or ``crosses``."""
PRICE_WAYS: Final = ("above", "below", "crosses")
_FORM_OPTIONAL: Final = frozenset({"band_bps"})
"""Fields that may be left empty (the rule's default then)."""
_FORM_EMPTY: Final[dict[str, str]] = {
    "market": "type a market, e.g. BTCUSD",
    "level": "type the price level, e.g. 65000",
    "above_bps": "type the spread in basis points, e.g. 5",
    "seconds": "type the seconds, e.g. 10",
    "size": "type the trade size in base units, e.g. 5",
    "beyond": "type the ratio, more than 0 and at most 1, e.g. 0.6",
}


def rule_from_form(kind: str, fields: Mapping[str, str]) -> AlertRule:
    """A rule from a dialog's text fields (:data:`FORM_FIELDS` of ``kind``), checked as
    :func:`rule_from_table` checks a config table: ``ValueError`` says what to type."""
    if kind not in FORM_FIELDS:
        kinds = ", ".join(RULE_KINDS)
        raise ValueError(f"kind = {kind!r} is not an alert kind; use one of {kinds}")
    table: dict[str, Any] = {"kind": kind}
    for key in FORM_FIELDS[kind]:
        text = fields.get(key, "").strip()
        if not text:
            if key in _FORM_OPTIONAL:
                continue
            raise ValueError(_FORM_EMPTY.get(key, f"{key}: choose one"))
        if key == "market":
            table[key] = text.upper()
        elif key == "way":
            if text not in PRICE_WAYS:
                raise ValueError(f"way = {text!r}: use one of {', '.join(PRICE_WAYS)}")
        elif key == "level":
            table[fields["way"].strip()] = text
        elif key in _NUMBERS or key in _WHOLE:
            table[key] = _form_number(key, text, whole=key in _WHOLE)
        else:
            table[key] = text
    return rule_from_table(table)


def _form_number(key: str, text: str, whole: bool) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    if not whole:
        try:
            value = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return value
    raise ValueError(f"{key} = {text!r} is not {'a whole number' if whole else 'a number'}")


# --------------------------------------------------------------------------- what fires


class AlertState(enum.Enum):
    """Where a rule stands, as a panel lists it."""

    ARMED = "armed"
    """Watching: fires when its condition is met."""
    FIRED = "fired"
    """Fired, and not re-armed yet (hysteresis, or the condition still holds)."""
    MUTED = "muted"
    """Not evaluated until unmuted."""


class AlertOrigin(enum.Enum):
    """Where a rule was defined."""

    CONFIG = "config"
    """The config file's ``[[alerts]]``: read at each start, not deletable here."""
    RUNTIME = "runtime"
    """Made while running (the dialog): kept in the alerts file."""


@dataclass(frozen=True, slots=True)
class AlertFired:
    """One rule firing: which, where, when (on the caller's clock), the value, in words."""

    rule_id: str
    rule: AlertRule
    market: str | None
    at: float
    """The ``now`` the evaluation was given."""
    value: str
    """The reading that fired it: the price or the trade's size as an exact decimal, the
    spread in bps to 2 places, the imbalance to 2 (signed: + bids heavy), the seconds the
    condition held for the duration kinds."""
    message: str
    """One line for a notification, the log and ``sordash stream``."""

    def as_line(self) -> dict[str, Any]:
        """The ``kind: "alert"`` JSON Lines object ``sordash stream`` writes."""
        return {
            "kind": "alert",
            "rule": self.rule_id,
            "alert": type(self.rule).__struct_config__.tag,
            "market": self.market,
            "value": self.value,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class AlertStatus:
    """A rule as a panel lists it."""

    id: str
    rule: AlertRule
    origin: AlertOrigin
    state: AlertState
    last: AlertFired | None
    """The newest firing (kept while muted and after re-arming)."""
    fired: int
    """Times fired this session."""


class FeedView(Protocol):
    """What the engine reads of a feed (a :class:`~app.feed.FeedClient` is one)."""

    @property
    def store(self) -> BookStore: ...

    @property
    def tape(self) -> TapeStore: ...

    @property
    def subscriptions(self) -> Mapping[ChannelKey, Subscription]: ...

    @property
    def state(self) -> ConnectionState: ...


class _Readings:
    """One evaluation's view of the feed: each market's touch read once, however many
    rules ask."""

    __slots__ = ("_touch", "bands", "feed", "now")

    def __init__(self, feed: FeedView, now: float, bands: _BandReader) -> None:
        self.feed = feed
        self.now = now
        self.bands = bands
        self._touch: dict[str, tuple[int, int] | None] = {}

    def touch(self, market: str) -> tuple[int, int] | None:
        """(best bid, best ask) in units of a LIVE book with both sides, else None."""
        try:
            return self._touch[market]
        except KeyError:
            pass
        book = self.feed.store.items.get(market)
        touch = None
        if book is not None and book.synced and not book.stale and not book.resync_reason:
            bid, ask = book.bids.best_price(), book.asks.best_price()
            if bid is not None and ask is not None:
                touch = (bid, ask)
        self._touch[market] = touch
        return touch

    def band(self, market: str, bps: int) -> tuple[int, int] | None:
        """(bid amount, ask amount) within ``bps`` of the mid of a LIVE book, else None (see
        :class:`_BandReader` for how fresh)."""
        if self.touch(market) is None:
            self.bands.held.pop(market, None)
            return None
        return self.bands.read(self.feed.store.items[market], bps, self.now)

    def markets(self) -> Iterable[str]:
        """The markets with a book (what a ``"*"`` rule of the book kinds watches)."""
        return self.feed.store.items.keys()


class _Bands(NamedTuple):
    """One market's band amounts as last read."""

    book: Book
    version: tuple[int, int]
    """The book's (snapshots, updates applied) then: unchanged, so are the amounts."""
    at: float
    amounts: dict[int, tuple[int, int]]


class _BandReader:
    """The depth within the imbalance rules' bands, per market, read at most every
    :data:`IMBALANCE_INTERVAL` seconds while the book changes, and then at most one market
    per evaluation (a market's first reading is at once).

    A band can hold every level of a dense book (all of bench_core's 1,100 lie within 1
    bps): reading four such markets on every refresh made 100 rules cost 0.33 ms a refresh
    here, against 0.10 ms at this pace (``make bench`` ``bench_alerts``). The header's
    imbalance bar is read at the same pace, so an alert lags what the trader sees by no
    more than the bar itself does.
    """

    __slots__ = ("held", "read_this_time", "widths")

    def __init__(self) -> None:
        self.held: dict[str, _Bands] = {}
        self.widths: dict[str, set[int]] = {}
        """Market (or ``"*"``) -> the bands its unmuted imbalance rules read."""
        self.read_this_time = False

    def read(self, book: Book, bps: int, now: float) -> tuple[int, int] | None:
        held = self.held.get(book.market)
        version = (book.snapshots, book.updates_applied)
        if (
            held is None
            or held.book is not book
            or bps not in held.amounts
            or (
                held.version != version
                and now - held.at >= IMBALANCE_INTERVAL
                and not self.read_this_time
            )
        ):
            if held is not None and held.book is book and bps in held.amounts:
                self.read_this_time = True  # a first reading does not wait its turn
            widths = sorted(
                {bps} | self.widths.get(book.market, set()) | self.widths.get(ALL_MARKETS, set())
            )
            amounts = band_amounts(book, widths)
            if amounts is None:
                self.held.pop(book.market, None)
                return None
            held = self.held[book.market] = _Bands(
                book, version, now, dict(zip(widths, amounts, strict=True))
            )
        return held.amounts[bps]


# --------------------------------------------------------------------------- watches

_UP: Final = 1
_DOWN: Final = -1
_NONE: Final = 0


class _Watch:
    """One rule's state on one market: armed or fired, and what the kind needs."""

    __slots__ = ("armed", "count", "fired", "seen", "since", "tape")

    def __init__(self) -> None:
        self.armed = _NONE
        """Price rules: the way the armed trigger fires (_UP, _DOWN), _NONE: none armed."""
        self.fired = False
        """Fired and not re-armed since."""
        self.seen: int | None = None
        """None before the rule's first reading. Trade rules: the newest trade's ``seq``
        seen (arrival order: a late trade has a higher one than those it lands behind)."""
        self.since: float | None = None
        """Duration rules: when the condition was first seen holding (None: it does not)."""
        self.tape: MarketTape | None = None
        """Trade rules: the tape watched (a new one after a resubscribe is read whole)."""
        self.count = 0
        """Trade rules: the tape's ``count`` when last read (unchanged: nothing new)."""


class _Compiled:
    """A rule with its exact thresholds worked out once, its state per market, and its
    check (one per kind)."""

    __slots__ = ("_t", "check", "count", "id", "last", "muted", "origin", "rule", "watches")

    def __init__(self, rule_id: str, rule: AlertRule, origin: AlertOrigin, muted: bool) -> None:
        self.id = rule_id
        self.rule = rule
        self.origin = origin
        self.muted = muted
        self.last: AlertFired | None = None
        self.count = 0
        self.watches: dict[str | None, _Watch] = {}
        self._t: tuple[int, ...] = ()
        """The kind's thresholds as integers (see each ``_check_*``)."""
        match rule:
            case PriceAlert():
                level = to_scaled(rule.level)
                bps = exact(rule.rearm_bps)
                margin = level * bps.numerator // (bps.denominator * BPS)
                way = rule.way
                self._t = (
                    level,
                    margin,
                    int(way != "below"),  # arms up
                    int(way != "above"),  # arms down
                    int(way == "crosses"),
                )
                self.check = self._check_price
            case SpreadAlert():
                above, below = exact(rule.above_bps), rule.rearm_below
                self._t = (above.numerator, above.denominator, below.numerator, below.denominator)
                self.check = self._check_spread
            case ImbalanceAlert():
                beyond, rearm = exact(rule.beyond), exact(rule.beyond) - exact(rule.rearm)
                self._t = (beyond.numerator, beyond.denominator, rearm.numerator, rearm.denominator)
                self.check = self._check_imbalance
            case TradeAlert():
                self._t = (to_scaled(rule.size),)
                self.check = self._check_trade
            case StaleAlert():
                self.check = self._check_stale
            case DisconnectedAlert():
                self.check = self._check_disconnected

    @property
    def state(self) -> AlertState:
        """Muted, fired (some market waits to re-arm) or armed."""
        if self.muted:
            return AlertState.MUTED
        if any(watch.fired for watch in self.watches.values()):
            return AlertState.FIRED
        return AlertState.ARMED

    def reset(self) -> None:
        """Start afresh, as if just added (re-arm, unmute)."""
        self.watches.clear()

    def _watch(self, market: str | None) -> _Watch:
        watch = self.watches.get(market)
        if watch is None:
            watch = self.watches[market] = _Watch()
        return watch

    def _fire(
        self, out: list[AlertFired], at: float, market: str | None, value: str, message: str
    ) -> None:
        fired = AlertFired(self.id, self.rule, market, at, value, message)
        self.last = fired
        self.count += 1
        out.append(fired)

    def _markets(self, market: str, readings: _Readings) -> Iterable[str]:
        if market != ALL_MARKETS:
            return (market,)
        books = readings.feed.store.items
        if not self.watches.keys() <= books.keys():  # a market went: forget its state
            for gone in [m for m in self.watches if m not in books]:
                del self.watches[gone]
        return readings.markets()

    # ------------------------------------------------------------------ the kinds

    def _check_price(self, readings: _Readings, out: list[AlertFired]) -> None:
        rule = self.rule
        assert isinstance(rule, PriceAlert)
        market = rule.market
        field = rule.field
        if field is PriceField.LAST:
            tape = readings.feed.tape.items.get(market)
            trade = None if tape is None else tape.last
            if trade is None:
                return
            value = trade.price_units
        else:
            touch = readings.touch(market)
            if touch is None:
                return
            if field is PriceField.BID:
                value = touch[0]
            elif field is PriceField.ASK:
                value = touch[1]
            else:
                value = (touch[0] + touch[1]) // 2
        level, margin, arms_up, arms_down, crosses = self._t
        watch = self._watch(market)
        if watch.seen is None:  # the first reading
            watch.seen = 1
            if crosses:
                watch.armed = _UP if value < level else _DOWN if value > level else _NONE
                return
            watch.armed = _UP if arms_up else _DOWN
        armed = watch.armed
        if armed == _UP and value >= level:
            watch.armed, watch.fired = _NONE, True
            text = format_scaled(value)
            self._fire(
                out,
                readings.now,
                market,
                text,
                f"{market} {field.value} {text}: crossed above {rule.level}",
            )
        elif armed == _DOWN and value <= level:
            watch.armed, watch.fired = _NONE, True
            text = format_scaled(value)
            self._fire(
                out,
                readings.now,
                market,
                text,
                f"{market} {field.value} {text}: crossed below {rule.level}",
            )
        if watch.armed == _NONE:
            if arms_up and value < level - margin:
                watch.armed, watch.fired = _UP, False
            elif arms_down and value > level + margin:
                watch.armed, watch.fired = _DOWN, False

    def _check_spread(self, readings: _Readings, out: list[AlertFired]) -> None:
        rule = self.rule
        assert isinstance(rule, SpreadAlert)
        above_num, above_den, below_num, below_den = self._t
        for market in self._markets(rule.market, readings):
            touch = readings.touch(market)
            if touch is None:
                continue
            bid, ask = touch
            # spread / mid in bps = (ask - bid) * BPS * 2 / (bid + ask), compared exactly
            scaled, mid_x2 = (ask - bid) * BPS * 2, bid + ask
            if mid_x2 <= 0:
                continue
            watch = self._watch(market)
            if not watch.fired:
                if scaled * above_den >= above_num * mid_x2:
                    watch.fired = True
                    bps = f"{scaled / mid_x2:.2f}"
                    self._fire(
                        out,
                        readings.now,
                        market,
                        bps,
                        f"{market} spread {bps} bps ({format_scaled(ask - bid)}): "
                        f"above {rule.above_bps:g} bps",
                    )
            elif scaled * below_den < below_num * mid_x2:
                watch.fired = False

    def _check_imbalance(self, readings: _Readings, out: list[AlertFired]) -> None:
        rule = self.rule
        assert isinstance(rule, ImbalanceAlert)
        beyond_num, beyond_den, rearm_num, rearm_den = self._t
        side = rule.side
        for market in self._markets(rule.market, readings):
            amounts = readings.band(market, rule.band_bps)
            if amounts is None:
                continue
            bids, asks = amounts
            total = bids + asks
            if not total:
                continue
            lean = bids - asks
            reach = (
                abs(lean)
                if side is ImbalanceSide.EITHER
                else lean
                if side is ImbalanceSide.BID
                else -lean
            )
            watch = self._watch(market)
            if not watch.fired:
                if reach * beyond_den >= beyond_num * total:
                    watch.fired = True
                    ratio = f"{lean / total:+.2f}"
                    heavy = "bids" if lean > 0 else "asks"
                    self._fire(
                        out,
                        readings.now,
                        market,
                        ratio,
                        f"{market} imbalance {ratio} ({heavy} heavy within {rule.band_bps} bps: "
                        f"bids {format_scaled(bids)}, asks {format_scaled(asks)}): "
                        f"beyond {rule.beyond:g}",
                    )
            elif reach * rearm_den < rearm_num * total:
                watch.fired = False

    def _check_trade(self, readings: _Readings, out: list[AlertFired]) -> None:
        rule = self.rule
        assert isinstance(rule, TradeAlert)
        market = rule.market
        tape = readings.feed.tape.items.get(market)
        watch = self._watch(market)
        if watch.seen is None:  # the first look: what is on the tape already is history
            watch.tape = tape
            watch.seen = max((t.seq for t in tape.trades), default=0) if tape else 0
            watch.count = tape.count if tape else 0
            return
        if tape is None:
            return
        if tape is not watch.tape:  # a new tape (resubscribed): every trade on it is new
            watch.tape, watch.seen, watch.count = tape, 0, 0
        new = tape.count - watch.count
        if new <= 0:
            return
        watch.count = tape.count
        # The new trades are those of a later arrival (seq) than any seen: mostly at the
        # end, a late one behind newer ones; read back until all ``new`` are found.
        seen = top = watch.seen
        size = self._t[0]
        big = None
        count = 0
        for trade in reversed(tape.trades):
            if trade.seq > seen:
                new -= 1
                if trade.seq > top:
                    top = trade.seq
                if trade.amount_units >= size:
                    count += 1
                    if big is None or trade.amount_units > big.amount_units:
                        big = trade
                if not new:
                    break
        watch.seen = top
        if big is not None:
            text = format_scaled(big.amount_units)
            also = f" ({count} trades of {rule.size} or more)" if count > 1 else ""
            self._fire(
                out,
                readings.now,
                market,
                text,
                f"{market} trade of {text} at {big.price}{also}",
            )

    def _check_stale(self, readings: _Readings, out: list[AlertFired]) -> None:
        rule = self.rule
        assert isinstance(rule, StaleAlert)
        subscriptions = readings.feed.subscriptions
        books = readings.feed.store.items
        if rule.market == ALL_MARKETS:
            markets = [key[1] for key in subscriptions if key[0] == MARKET_DATA and key[1]]
            for gone in [m for m in self.watches if m not in markets]:
                del self.watches[gone]
        else:
            markets = [rule.market]
        for market in markets:
            state = _not_live(subscriptions.get((MARKET_DATA, market)), books.get(market))
            self._duration(market, state, rule.seconds, readings.now, out)

    def _check_disconnected(self, readings: _Readings, out: list[AlertFired]) -> None:
        rule = self.rule
        assert isinstance(rule, DisconnectedAlert)
        state = readings.feed.state
        self._duration(
            None,
            state.value if state in DISCONNECTED_STATES else None,
            rule.seconds,
            readings.now,
            out,
        )

    def _duration(
        self,
        market: str | None,
        condition: str | None,
        seconds: float,
        now: float,
        out: list[AlertFired],
    ) -> None:
        """Fire once when ``condition`` (what holds, in words; None: nothing) has held for
        ``seconds``; re-arm when it clears."""
        if condition is None:
            if market in self.watches:
                del self.watches[market]  # cleared: armed again
            return
        watch = self._watch(market)
        if watch.since is None:
            watch.since = now
        held = now - watch.since
        if not watch.fired and held >= seconds:
            watch.fired = True
            value = f"{held:.1f}"
            where = f"{market} book" if market is not None else "feed"
            self._fire(out, now, market, value, f"{where} {condition} for {value} s")


def _not_live(md: Subscription | None, book: Book | None) -> str | None:
    """What a subscribed market's book is when not LIVE (None: LIVE, or not subscribed)."""
    if md is None or md.state is SubState.UNSUBSCRIBING:
        return None
    if md.state is SubState.FAILED:
        return "FAILED"
    if book is None:
        return BookState.SYNCING.value
    state = book.state
    return None if state is BookState.LIVE else state.value


# --------------------------------------------------------------------------- the engine


class SavedAlert(msgspec.Struct, frozen=True, omit_defaults=True):
    """A rule made at runtime as the alerts file keeps it."""

    id: str
    rule: AlertRule
    muted: bool = False


class SavedAlerts(msgspec.Struct, omit_defaults=True):
    """The alerts file: rules made at runtime, and which config rules are muted."""

    alerts: list[SavedAlert] = msgspec.field(default_factory=list)
    next_id: int = 1
    """The number of the next runtime rule's id (``a1``, ``a2``, ...; never reused)."""
    muted_config: list[str] = msgspec.field(default_factory=list)
    """:func:`rule_key` of each muted config rule."""


def alerts_file(path: Path | None = None) -> StateFile[SavedAlerts]:
    """The alerts file (``alerts.json`` in the user's state directory unless ``path``)."""
    return StateFile(path or default_state_dir() / "alerts.json", SavedAlerts)


class AlertEngine:
    """The rules, their states, and what fired: evaluated by whoever owns the refresh clock.

    Config rules get ids ``c1``, ``c2``... in the file's order; runtime rules ``a1``,
    ``a2``... With a ``file``, every change to the runtime rules or to a mute is written
    at once (:class:`~app.state_file.StateFileError` when it cannot be: the change holds
    for this session, the error says it was not kept).
    """

    def __init__(
        self,
        config_rules: Sequence[AlertRule] = (),
        saved: SavedAlerts | None = None,
        file: StateFile[SavedAlerts] | None = None,
    ) -> None:
        saved = saved if saved is not None else SavedAlerts()
        self.file = file
        self._next_id = saved.next_id
        muted = set(saved.muted_config)
        self._rules: dict[str, _Compiled] = {}
        for number, rule in enumerate(config_rules, 1):
            self._rules[f"c{number}"] = _Compiled(
                f"c{number}", rule, AlertOrigin.CONFIG, rule_key(rule) in muted
            )
        for entry in saved.alerts:
            self._rules[entry.id] = _Compiled(
                entry.id, entry.rule, AlertOrigin.RUNTIME, entry.muted
            )
        self._active: list[_Compiled] = []
        self._bands = _BandReader()
        self._activate()

    @classmethod
    def open(
        cls, config_rules: Sequence[AlertRule], file: StateFile[SavedAlerts] | None = None
    ) -> AlertEngine:
        """The config's rules and the alerts file's (default: :func:`alerts_file`).

        A file that cannot be used is moved aside and ``engine.file.problem`` says so (the
        caller shows it); the engine then starts with the config's rules alone.
        """
        file = file if file is not None else alerts_file()
        return cls(config_rules, file.load(SavedAlerts()), file)

    # ------------------------------------------------------------------ reading

    def statuses(self) -> list[AlertStatus]:
        """Every rule, config ones first, each as a panel lists it."""
        return [
            AlertStatus(c.id, c.rule, c.origin, c.state, c.last, c.count)
            for c in self._rules.values()
        ]

    def status(self, rule_id: str) -> AlertStatus:
        """One rule's status (:class:`AlertError` for an unknown id)."""
        c = self._get(rule_id)
        return AlertStatus(c.id, c.rule, c.origin, c.state, c.last, c.count)

    def saved(self) -> SavedAlerts:
        """What the alerts file keeps: the runtime rules and mutes, no fired states."""
        return SavedAlerts(
            [
                SavedAlert(c.id, c.rule, c.muted)
                for c in self._rules.values()
                if c.origin is AlertOrigin.RUNTIME
            ],
            self._next_id,
            sorted(
                {
                    rule_key(c.rule)
                    for c in self._rules.values()
                    if c.origin is AlertOrigin.CONFIG and c.muted
                }
            ),
        )

    # ------------------------------------------------------------------ operations

    def add(self, rule: AlertRule) -> str:
        """Add a runtime rule, armed; its id."""
        rule_id = f"a{self._next_id}"
        self._next_id += 1
        self._rules[rule_id] = _Compiled(rule_id, rule, AlertOrigin.RUNTIME, False)
        self._changed()
        return rule_id

    def mute(self, rule_id: str) -> None:
        """Stop evaluating a rule (its last firing stays listed)."""
        c = self._get(rule_id)
        if not c.muted:
            c.muted = True
            c.reset()
            self._changed()

    def unmute(self, rule_id: str) -> None:
        """Evaluate a muted rule again, afresh."""
        c = self._get(rule_id)
        if c.muted:
            c.muted = False
            c.reset()
            self._changed()

    def rearm(self, rule_id: str) -> None:
        """Start a rule afresh, as if just added: it fires again when its condition is met
        (at once, for ``above``/``below`` when the price is already there). A muted rule
        stays muted."""
        self._get(rule_id).reset()

    def delete(self, rule_id: str) -> None:
        """Remove a runtime rule for good; a config rule is refused (it would come back at
        the next start): mute it, or remove it from the config file."""
        c = self._get(rule_id)
        if c.origin is AlertOrigin.CONFIG:
            raise AlertError(
                f"alert {rule_id} ({c.rule.describe()}) is defined in the config file: "
                "mute it here, or remove it from the file"
            )
        del self._rules[rule_id]
        self._changed()

    def _activate(self) -> None:
        """The unmuted rules, in order, and the bands their imbalance rules read."""
        self._active = [c for c in self._rules.values() if not c.muted]
        widths: dict[str, set[int]] = {}
        for c in self._active:
            if isinstance(c.rule, ImbalanceAlert):
                widths.setdefault(c.rule.market, set()).add(c.rule.band_bps)
        self._bands.widths = widths

    def _get(self, rule_id: str) -> _Compiled:
        try:
            return self._rules[rule_id]
        except KeyError:
            raise AlertError(f"no alert {rule_id!r}") from None

    def _changed(self) -> None:
        self._activate()
        if self.file is not None:
            self.file.save(self.saved())

    # ------------------------------------------------------------------ evaluating

    def evaluate(self, now: float, feed: FeedView) -> list[AlertFired]:
        """Check every unmuted rule against ``feed`` at ``now`` (seconds on one steady
        clock: ``time.monotonic`` or a test's; durations are measured on it) and return
        what fired, in rule order. Cheap: each market's touch is read once."""
        out: list[AlertFired] = []
        self._bands.read_this_time = False
        readings = _Readings(feed, now, self._bands)
        for compiled in self._active:
            compiled.check(readings, out)
        return out
