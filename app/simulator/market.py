"""One simulated market: an order book that moves plausibly, and the frames that describe it.

Prices are integer ticks and amounts integer lots, so the book is exact and cheap; the text
sent on the wire is formatted from them. Every random choice comes from the market's own
``random.Random``, so a seed reproduces the sequence of book changes and trades exactly
(wall-clock timestamps aside, which an injected clock fixes too).

What the generator does, per event: most often it changes the amount of a level near the
touch; it also inserts and removes levels, improves the touch toward a random-walk "fair"
price, and trades: an execution at the touch that consumes (part of) that level. The book
stays uncrossed and between ``min_levels`` and ``max_levels`` per side. Now and then an
execution is held back and delivered after a later one (out of ``executed_at`` order), as
the real feed may do.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from app.protocol import format_time


@dataclass(frozen=True)
class MarketSpec:
    """The shape of one market: price, tick, precision, depth and activity."""

    name: str
    price: float
    """Typical mid price at start."""
    price_decimals: int
    """Decimal places of a price; the tick is one unit of the last place."""
    amount_decimals: int
    typical_amount: float
    """Mean size of a level, in units of the base asset."""
    gap_ticks: int
    """Mean distance between adjacent levels, in ticks."""
    activity: float = 1.0
    """Relative event rate (1.0: the configured rate)."""
    min_levels: int = 50
    max_levels: int = 200


DEFAULT_SPECS: dict[str, MarketSpec] = {
    spec.name: spec
    for spec in (
        MarketSpec("BTCUSD", 64250.0, 2, 8, 0.35, 150, 1.0),
        MarketSpec("ETHUSD", 3120.0, 2, 8, 4.0, 12, 0.9),
        MarketSpec("BCHUSD", 372.0, 2, 8, 15.0, 4, 0.4),
        MarketSpec("LTCUSD", 84.5, 2, 8, 60.0, 2, 0.5),
        MarketSpec("LINKUSD", 14.85, 3, 4, 400.0, 6, 0.4),
        MarketSpec("MATICUSD", 0.5123, 4, 2, 12000.0, 3, 0.3),
        MarketSpec("AAVEUSD", 152.3, 2, 6, 25.0, 5, 0.3),
        MarketSpec("UNIUSD", 7.912, 3, 4, 800.0, 4, 0.35),
    )
}
"""Markets the simulator knows, with plausible prices and precisions."""


def fixed(value: int, places: int) -> str:
    """An integer count of ``10**-places`` units as a decimal string with ``places`` digits."""
    if places == 0:
        return str(value)
    whole, frac = divmod(value, 10**places)
    return f"{whole}.{frac:0{places}d}"


def trimmed(value: int, places: int) -> str:
    """Like :func:`fixed` with trailing fraction zeros (and a bare point) removed."""
    text = fixed(value, places)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


ZERO_SPELLINGS = ("0", "0.0", "0.00000000", "0.000")
ODD_ASK_TICKS = 1000
"""How far from the best ask :meth:`Market.snapshot_frame` puts its odd ask level."""


class Market:
    """The book of one market plus its event generator."""

    HISTORY = 8
    """Recent UPDATE frames kept, to send before the SNAPSHOT to a new subscriber."""

    def __init__(
        self,
        spec: MarketSpec,
        seed: int,
        clock_ns: Callable[[], int],
        *,
        quirks: bool = False,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.rng = random.Random(f"{seed}:{spec.name}")
        self._clock_ns = clock_ns
        self.quirks = quirks
        self.bids: dict[int, int] = {}
        """Price in ticks -> amount in lots."""
        self.asks: dict[int, int] = {}
        self._bid_keys: list[int] = []
        """Bid prices, ascending (best is last)."""
        self._ask_keys: list[int] = []
        """Ask prices, ascending (best is first)."""
        self.time_ns = 0
        self.time_text = ""
        """RFC3339Nano time of the newest change to the book (an UPDATE's or the start)."""
        self.history: deque[bytes] = deque(maxlen=self.HISTORY)
        self._held: list[tuple[int, bytes]] = []
        """Executions held back to be delivered late, with events left before release."""
        self.burst_left = 0.0
        """Seconds of burst left (the rate is multiplied while positive)."""
        self.burst_factor = 1.0
        self._prefix = (
            b'{"channel":"market_data","payload":{"market":"' + spec.name.encode() + b'",'
        )
        self._exec_prefix = (
            b'{"channel":"execution_data","payload":{"market":"' + spec.name.encode() + b'",'
        )
        self._price_cache: dict[int, str] = {}
        self._target_levels = (spec.min_levels + spec.max_levels) // 2
        self._lot = 10**spec.amount_decimals
        self._amounts = self._make_amounts()
        self._amount_cache: dict[int, str] = {}
        tick = 10**spec.price_decimals
        self.fair = float(round(spec.price * tick))
        self._build()

    # ------------------------------------------------------------------ book

    def _now(self) -> int:
        """A strictly increasing timestamp for this market's next change."""
        now = self._clock_ns()
        if now <= self.time_ns:
            now = self.time_ns + 1
        self.time_ns = now
        self.time_text = format_time(now)
        return now

    def _make_amounts(self) -> list[int]:
        """A table of plausible level sizes, drawn once (drawing per event costs more)."""
        spec = self.spec
        table: list[int] = []
        for _ in range(4096):
            size = self.rng.lognormvariate(math.log(spec.typical_amount), 0.9)
            # Real sizes cluster on a few significant digits; keep at least one lot.
            lots = max(1, int(size * self._lot))
            digits = len(str(lots))
            if digits > 4:
                unit = 10 ** (digits - 4)
                lots = max(unit, lots // unit * unit)
            table.append(lots)
        return table

    def _random_amount(self) -> int:
        return self._amounts[int(self.rng.random() * 4096)]

    def _gap(self) -> int:
        return max(1, int(self.rng.expovariate(1.0 / self.spec.gap_ticks)) + 1)

    def _build(self) -> None:
        mid = int(self.fair)
        spread = max(2, self.spec.gap_ticks)
        count = (self.spec.min_levels + self.spec.max_levels) // 2
        price = mid - spread // 2
        for _ in range(count):
            self._set_bid(price, self._random_amount())
            price -= self._gap()
            if price <= 0:
                break
        price = mid - spread // 2 + spread
        for _ in range(count):
            self._set_ask(price, self._random_amount())
            price += self._gap()
        self._now()

    def _set_bid(self, price: int, amount: int) -> None:
        if price not in self.bids:
            bisect.insort(self._bid_keys, price)
        self.bids[price] = amount

    def _set_ask(self, price: int, amount: int) -> None:
        if price not in self.asks:
            bisect.insort(self._ask_keys, price)
        self.asks[price] = amount

    def _del_bid(self, price: int) -> None:
        del self.bids[price]
        self._bid_keys.pop(bisect.bisect_left(self._bid_keys, price))

    def _del_ask(self, price: int) -> None:
        del self.asks[price]
        self._ask_keys.pop(bisect.bisect_left(self._ask_keys, price))

    @property
    def best_bid(self) -> int:
        return self._bid_keys[-1]

    @property
    def best_ask(self) -> int:
        return self._ask_keys[0]

    def levels(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The book as decimal strings: bids descending, asks ascending."""
        pd, ad = self.spec.price_decimals, self.spec.amount_decimals
        bids = [(fixed(p, pd), trimmed(self.bids[p], ad)) for p in reversed(self._bid_keys)]
        asks = [(fixed(p, pd), trimmed(self.asks[p], ad)) for p in self._ask_keys]
        return bids, asks

    # ------------------------------------------------------------------ frames

    def _price_text(self, price: int) -> str:
        cache = self._price_cache
        text = cache.get(price)
        if text is None:
            if len(cache) > 50_000:
                cache.clear()
            text = cache[price] = fixed(price, self.spec.price_decimals)
        if self.quirks:
            roll = self.rng.random()
            if roll < 0.25:
                text += "0"
            elif roll < 0.5 and "." in text:
                text = text.rstrip("0").rstrip(".")
        return text

    def _amount_text(self, amount: int) -> str:
        if amount == 0:
            return self.rng.choice(ZERO_SPELLINGS) if self.quirks else "0"
        if self.quirks and self.rng.random() < 0.3:
            return fixed(amount, self.spec.amount_decimals)
        cache = self._amount_cache
        text = cache.get(amount)
        if text is None:
            if len(cache) > 50_000:
                cache.clear()
            text = cache[amount] = trimmed(amount, self.spec.amount_decimals)
        return text

    def _side_json(self, changes: list[tuple[int, int]]) -> str:
        if not changes:
            return ""
        return ",".join(
            [
                f'{{"price":"{self._price_text(p)}","amount":"{self._amount_text(a)}"}}'
                for p, a in changes
            ]
        )

    def update_frame(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> bytes:
        """Encode an UPDATE (already applied) at the book's current time."""
        body = (
            f'"type":"UPDATE","time":"{self.time_text}",'
            f'"bids":[{self._side_json(bids)}],"asks":[{self._side_json(asks)}]}}}}'
        )
        return self._prefix + body.encode()

    def snapshot_frame(self, *, extra_levels: int = 0, odd_amount: str | None = None) -> bytes:
        """Encode the whole book as a SNAPSHOT at the time of its newest change.

        Two additions exist in the frame only, never in the book (:meth:`levels`):
        ``extra_levels`` more levels per side beyond the deepest ones (valid, distinct prices,
        non-zero amounts: a big book for benchmarks), and, when ``odd_amount`` is given, one
        more ask :data:`ODD_ASK_TICKS` ticks from the touch (the first free price there)
        with that amount text, in its sorted place.
        """
        pd, ad = self.spec.price_decimals, self.spec.amount_decimals
        bid_items = [
            f'{{"price":"{fixed(p, pd)}","amount":"{trimmed(self.bids[p], ad)}"}}'
            for p in reversed(self._bid_keys)
        ]
        ask_items = [
            f'{{"price":"{fixed(p, pd)}","amount":"{trimmed(self.asks[p], ad)}"}}'
            for p in self._ask_keys
        ]
        deepest_ask = self._ask_keys[-1]
        if odd_amount is not None:
            price = self.best_ask + ODD_ASK_TICKS
            while price in self.asks:
                price += 1
            level = f'{{"price":"{fixed(price, pd)}","amount":"{odd_amount}"}}'
            ask_items.insert(bisect.bisect_left(self._ask_keys, price), level)
            deepest_ask = max(deepest_ask, price)
        if extra_levels > 0:
            bid_items.extend(self._far_bids(extra_levels))
            ask_items.extend(self._far_asks(deepest_ask, extra_levels))
        bids, asks = ",".join(bid_items), ",".join(ask_items)
        body = f'"type":"SNAPSHOT","time":"{self.time_text}","bids":[{bids}],"asks":[{asks}]}}}}'
        return self._prefix + body.encode()

    def _extra_amounts(self) -> list[str]:
        ad = self.spec.amount_decimals
        return [trimmed(a, ad) for a in self._amounts[:97]]

    def _far_bids(self, count: int) -> list[str]:
        """``count`` bid levels below the deepest bid, descending, all above zero.

        On the tick grid when it has room; a low-priced market gets a finer grid (more
        decimal places) so that every price stays distinct and positive.
        """
        lowest = self._bid_keys[0]
        places = self.spec.price_decimals
        while lowest <= count:
            lowest *= 10
            places += 1
        amounts = self._extra_amounts()
        return [
            f'{{"price":"{fixed(lowest - k, places)}","amount":"{amounts[k % 97]}"}}'
            for k in range(1, count + 1)
        ]

    def _far_asks(self, deepest: int, count: int) -> list[str]:
        """``count`` ask levels one tick apart beyond ``deepest``, ascending."""
        pd = self.spec.price_decimals
        amounts = self._extra_amounts()
        return [
            f'{{"price":"{fixed(deepest + k, pd)}","amount":"{amounts[k % 97]}"}}'
            for k in range(1, count + 1)
        ]

    def zero_levels(self, count: int) -> bytes:
        """``count`` comma-separated levels with amount ``"0"`` that match no level of the book.

        Their prices are distinct and all below one tick (finer than the market's grid), so
        applying them removes nothing.
        """
        places = self.spec.price_decimals + len(str(count))
        return ",".join(
            [f'{{"price":"{fixed(k, places)}","amount":"0"}}' for k in range(1, count + 1)]
        ).encode()

    def _execution_frame(self, price: int, amount: int) -> bytes:
        """An execution at the time of the market's latest change (``time_text``)."""
        body = (
            f'"price":"{fixed(price, self.spec.price_decimals)}",'
            f'"amount":"{trimmed(amount, self.spec.amount_decimals)}",'
            f'"executed_at":"{self.time_text}"}}}}'
        )
        return self._exec_prefix + body.encode()

    # ------------------------------------------------------------------ events

    def step(self) -> tuple[bytes, list[bytes]]:
        """Make one change to the book.

        Returns the UPDATE frame and the execution frames to deliver with it (possibly
        none, possibly an earlier execution released late).
        """
        rng = self.rng
        # The fair price walks; trades and new quotes follow it.
        self.fair += (rng.random() - 0.5) * self.spec.gap_ticks * 0.28
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        executions: list[bytes] = []
        roll = rng.random()
        if self.best_ask - self.best_bid > 2 * self.spec.gap_ticks and roll < 0.5:
            self._improve(bids, asks)  # a wide spread attracts quotes
        elif roll < 0.42:
            self._modify(bids, asks)
        elif roll < 0.56:
            self._insert(bids, asks)
        elif roll < 0.68:
            self._remove(bids, asks)
        elif roll < 0.76:
            for _ in range(rng.randint(2, 3)):
                self._modify(bids, asks)
        else:
            executions.extend(self._trade(bids, asks))
        self._keep_depth(bids, asks)
        self._now()
        frame = self.update_frame(bids, asks)
        self.history.append(frame)
        executions.extend(self._release_held())
        return frame, executions

    def _depth_index(self, size: int) -> int:
        return min(int(self.rng.expovariate(0.45)), size - 1)

    def _modify(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        if self.rng.random() < 0.5:
            price = self._bid_keys[-1 - self._depth_index(len(self._bid_keys))]
            amount = self._random_amount()
            self.bids[price] = amount
            bids.append((price, amount))
        else:
            price = self._ask_keys[self._depth_index(len(self._ask_keys))]
            amount = self._random_amount()
            self.asks[price] = amount
            asks.append((price, amount))

    def _improve(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        """A quote inside the spread, on the side the fair price favours."""
        rng = self.rng
        best_bid, best_ask = self.best_bid, self.best_ask
        room = best_ask - best_bid - 1
        if room < 1:
            return
        step = rng.randint(1, min(room, self.spec.gap_ticks))
        mid = (best_bid + best_ask) / 2
        buy = rng.random() < (0.7 if self.fair >= mid else 0.3)
        amount = self._random_amount()
        if buy:
            self._set_bid(best_bid + step, amount)
            bids.append((best_bid + step, amount))
        else:
            self._set_ask(best_ask - step, amount)
            asks.append((best_ask - step, amount))

    def _insert(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        rng = self.rng
        if self.best_ask - self.best_bid > 1 and rng.random() < 0.4:
            self._improve(bids, asks)
            return
        amount = self._random_amount()
        if rng.random() < 0.5:
            anchor = self._bid_keys[-1 - self._depth_index(len(self._bid_keys))]
            price = anchor - rng.randint(1, self.spec.gap_ticks)
            if price > 0:
                self._set_bid(price, amount)
                bids.append((price, amount))
        else:
            anchor = self._ask_keys[self._depth_index(len(self._ask_keys))]
            price = anchor + rng.randint(1, self.spec.gap_ticks)
            self._set_ask(price, amount)
            asks.append((price, amount))

    def _remove(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        if self.rng.random() < 0.5:
            if len(self._bid_keys) > self._target_levels:
                price = self._bid_keys[-1 - self._depth_index(len(self._bid_keys))]
                self._del_bid(price)
                bids.append((price, 0))
        elif len(self._ask_keys) > self._target_levels:
            price = self._ask_keys[self._depth_index(len(self._ask_keys))]
            self._del_ask(price)
            asks.append((price, 0))

    def _trade(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> list[bytes]:
        """An aggressor takes (part of) the touch: one execution and the book change."""
        rng = self.rng
        mid = (self.best_bid + self.best_ask) / 2
        # Buyers lift the ask more often when the fair price is above the mid.
        lean = max(-0.35, min(0.35, (self.fair - mid) / (self.spec.gap_ticks * 4)))
        if rng.random() < 0.5 + lean:  # a buyer takes the ask side's touch
            price, side, keys, delete, changes = (
                self.best_ask,
                self.asks,
                self._ask_keys,
                self._del_ask,
                asks,
            )
        else:
            price, side, keys, delete, changes = (
                self.best_bid,
                self.bids,
                self._bid_keys,
                self._del_bid,
                bids,
            )
        available = side[price]
        take = available if rng.random() < 0.4 else max(1, int(available * rng.random()))
        left = available - take
        if left:
            side[price] = left
        elif len(keys) > 1:
            delete(price)
        else:  # never empty a side: a fresh quote takes the level's place
            left = self._random_amount()
            side[price] = left
        changes.append((price, left))
        self._now()
        frame = self._execution_frame(price, take)
        if rng.random() < 0.08:
            self._held.append((rng.randint(1, 3), frame))  # delivered late, out of order
            return []
        return [frame]

    def _release_held(self) -> list[bytes]:
        if not self._held:
            return []
        due: list[bytes] = []
        keep: list[tuple[int, bytes]] = []
        for left, frame in self._held:
            if left <= 1:
                due.append(frame)
            else:
                keep.append((left - 1, frame))
        self._held = keep
        return due

    def _keep_depth(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        spec = self.spec
        low, high = spec.min_levels, spec.max_levels
        if low <= len(self._bid_keys) <= high and low <= len(self._ask_keys) <= high:
            return
        touched_bids = {p for p, _ in bids}
        touched_asks = {p for p, _ in asks}
        if len(self._bid_keys) < spec.min_levels:
            price = self._bid_keys[0] - self._gap()
            if price > 0 and price not in touched_bids:
                amount = self._random_amount()
                self._set_bid(price, amount)
                bids.append((price, amount))
        elif len(self._bid_keys) > spec.max_levels:
            price = self._bid_keys[0]
            if price not in touched_bids:
                self._del_bid(price)
                bids.append((price, 0))
        if len(self._ask_keys) < spec.min_levels:
            price = self._ask_keys[-1] + self._gap()
            if price not in touched_asks:
                amount = self._random_amount()
                self._set_ask(price, amount)
                asks.append((price, amount))
        elif len(self._ask_keys) > spec.max_levels:
            price = self._ask_keys[-1]
            if price not in touched_asks:
                self._del_ask(price)
                asks.append((price, 0))
