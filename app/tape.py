"""The trade tape: executions per market ordered by ``executed_at``, bounded, with session figures.

Executions may arrive out of order; a late one is inserted in its place. The API gives no
side, so each trade's aggressor side is *inferred* at arrival: at or above the best ask a
buy, at or below the best bid a sell, otherwise the tick rule against the trade before it.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from decimal import Decimal
from typing import Final, NamedTuple

import msgspec

from app.books import Book
from app.protocol import (
    ONE,
    DecimalFormatError,
    Execution,
    TimeFormatError,
    format_scaled,
    parse_time,
    to_scaled,
)
from app.registry import MarketRegistry

DEFAULT_TAPE_LIMIT: Final = 500


class Side(enum.Enum):
    """An inferred aggressor side."""

    BUY = "buy"
    SELL = "sell"
    UNKNOWN = "?"


class Trade(NamedTuple):
    """One execution as held: wire spellings, exact integers, and the inferred side."""

    executed_ns: int
    seq: int
    """Arrival order, to keep equal times stable."""
    price: str
    amount: str
    executed_at: str
    price_units: int
    amount_units: int
    side: Side


class TapeState(msgspec.Struct, array_like=True):
    """A market's tape as held, exactly (a mid-session recording's starting point): the
    trades as ``[seq, executed_at, price, amount, side]`` oldest first, and the session
    figures (integers as decimal strings: the notional outgrows 64 bits)."""

    market: str
    trades: list[tuple[int, str, str, str, str]]
    seq: int
    count: int
    volume_units: str
    notional: str
    high_units: str | None
    low_units: str | None
    late: int
    errors: int


class MarketTape:
    """One market's trades, oldest first by ``executed_at``, and its session figures."""

    __slots__ = (
        "_notional",
        "_seq",
        "count",
        "errors",
        "high_units",
        "last_error",
        "late",
        "limit",
        "low_units",
        "market",
        "trades",
        "volume_units",
    )

    def __init__(self, market: str, limit: int = DEFAULT_TAPE_LIMIT) -> None:
        self.market = market
        self.limit = limit
        self.trades: list[Trade] = []
        self.count = 0
        self.volume_units = 0
        self._notional = 0  # sum(price * amount) in 10**-36 units, exact
        self.high_units: int | None = None
        self.low_units: int | None = None
        self.late = 0
        """Executions that arrived after a later-executed one (inserted in place)."""
        self.errors = 0
        self.last_error = ""
        self._seq = 0

    @property
    def last(self) -> Trade | None:
        """The newest trade by ``executed_at``."""
        return self.trades[-1] if self.trades else None

    @property
    def vwap_units(self) -> int | None:
        """Volume-weighted average price of the session, 10**-18 units (rounded down)."""
        if not self.volume_units:
            return None
        return self._notional // self.volume_units

    @property
    def vwap(self) -> Decimal | None:
        """The session VWAP as an exact-as-possible Decimal for display."""
        units = self.vwap_units
        return None if units is None else Decimal(units) / ONE

    @property
    def volume(self) -> str:
        """Session volume as a decimal string."""
        return format_scaled(self.volume_units)

    def add(self, execution: Execution, book: Book | None = None) -> Trade | None:
        """Insert one execution in ``executed_at`` order; returns it, or None if unreadable."""
        try:
            t = parse_time(execution.executed_at)
            p = to_scaled(execution.price)
            a = to_scaled(execution.amount)
        except (DecimalFormatError, TimeFormatError) as exc:
            self.errors += 1
            self.last_error = f"unreadable execution: {exc}"
            return None
        trades = self.trades
        self._seq += 1
        index = len(trades)
        if trades and trades[-1].executed_ns > t:
            index = bisect_right(trades, (t, self._seq))
            self.late += 1
        side = self._infer_side(p, book, trades[index - 1] if index else None)
        trade = Trade(
            t, self._seq, execution.price, execution.amount, execution.executed_at, p, a, side
        )
        trades.insert(index, trade)
        if len(trades) > self.limit:
            del trades[: len(trades) - self.limit]
        self.count += 1
        self.volume_units += a
        self._notional += p * a
        if self.high_units is None or p > self.high_units:
            self.high_units = p
        if self.low_units is None or p < self.low_units:
            self.low_units = p
        return trade

    @staticmethod
    def _infer_side(price: int, book: Book | None, previous: Trade | None) -> Side:
        if book is not None and book.synced:
            ask, bid = book.best_ask, book.best_bid
            if ask is not None and price >= ask.price_units:
                return Side.BUY
            if bid is not None and price <= bid.price_units:
                return Side.SELL
        if previous is None:
            return Side.UNKNOWN
        if price > previous.price_units:
            return Side.BUY
        if price < previous.price_units:
            return Side.SELL
        return previous.side

    def state(self) -> TapeState:
        """Everything this tape holds, for :meth:`restore` to hold exactly elsewhere."""
        return TapeState(
            self.market,
            [(t.seq, t.executed_at, t.price, t.amount, t.side.value) for t in self.trades],
            self._seq,
            self.count,
            str(self.volume_units),
            str(self._notional),
            None if self.high_units is None else str(self.high_units),
            None if self.low_units is None else str(self.low_units),
            self.late,
            self.errors,
        )

    def restore(self, state: TapeState) -> None:
        """Hold what ``state`` says (from :meth:`state`), trades and figures alike.

        Raises ``ValueError`` for a state that cannot be this tape's (unreadable times,
        prices or sides).
        """
        trades = []
        try:
            for seq, executed_at, price, amount, side in state.trades[-self.limit :]:
                trades.append(
                    Trade(
                        parse_time(executed_at),
                        seq,
                        price,
                        amount,
                        executed_at,
                        to_scaled(price),
                        to_scaled(amount),
                        Side(side),
                    )
                )
        except ValueError as exc:  # a time, decimal or side that cannot be read
            raise ValueError(f"unreadable tape state: {exc}") from None
        self.trades = trades
        self._seq = state.seq
        self.count = state.count
        self.volume_units = int(state.volume_units)
        self._notional = int(state.notional)
        self.high_units = None if state.high_units is None else int(state.high_units)
        self.low_units = None if state.low_units is None else int(state.low_units)
        self.late = state.late
        self.errors = state.errors

    def newest(self, n: int) -> list[Trade]:
        """The newest ``n`` trades, newest first."""
        return self.trades[: -n - 1 : -1] if n > 0 else []


class TapeStore(MarketRegistry[MarketTape]):
    """Every market's tape; the feed adds executions, the screen reads and clears ``dirty``."""

    def __init__(self, limit: int = DEFAULT_TAPE_LIMIT) -> None:
        super().__init__()
        self.limit = limit

    @property
    def tapes(self) -> dict[str, MarketTape]:
        """Market -> tape."""
        return self.items

    def _create(self, market: str) -> MarketTape:
        return MarketTape(market, self.limit)

    def tape(self, market: str) -> MarketTape:
        """The tape for ``market``, created empty on first use."""
        return self.obtain(market)

    def add(self, execution: Execution, book: Book | None = None) -> Trade | None:
        """Add one execution to its market's tape and mark the market dirty."""
        self.dirty.add(execution.market)
        return self.obtain(execution.market).add(execution, book)
