"""Which table for the watchlist: Textual's ``DataTable`` against a Line-API table.

Issue 14 asks to measure before choosing. Both apps show the same table, 8 markets by 13
columns (state, bid, ask, spread, bps, mid, last, change, volume, VWAP, a 24-cell
sparkline, age), headless at 160x40, and change it 4 times a second the way a watchlist
does: every price walks, ages and sparklines move, so nearly every cell is new text on
every update.

- ``watch_table_datatable_cpu``: a ``DataTable`` whose changed cells are set with
  ``update_cell`` (its way to change a cell in place);
- ``watch_table_lineapi_cpu``: a ``render_line`` widget that keeps a finished strip per
  row and refreshes only the rows whose text changed (the ladder's way, widgets/quiet.py);
  the ratio is against the DataTable of the same run.

Each is the process's CPU share over the window (6 s), best of two rounds, with the app's
idle cost (the same app, nothing updated) reported beside them.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import ClassVar, Final

from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable

from app.config import KNOWN_MARKETS
from benchmarks.common import report

SIZE: Final = (160, 40)
WINDOW: Final = 6.0
HZ: Final = 4.0
MARKETS: Final = KNOWN_MARKETS  # the eight markets the watchlist lists by default
COLUMNS: Final = (
    ("Market", 9),
    ("State", 10),
    ("Bid", 11),
    ("Ask", 11),
    ("Spread", 8),
    ("bps", 6),
    ("Mid", 12),
    ("Last", 11),
    ("Chg", 7),
    ("Volume", 12),
    ("VWAP", 12),
    ("Mid, last minutes", 24),
    ("Age", 6),
)
BLOCKS: Final = "▁▂▃▄▅▆▇█"


class Rows:
    """Seeded rows that move like a watchlist's: every price walks on every update."""

    def __init__(self) -> None:
        self.rng = random.Random(14)
        self.mids = [1000.0 * (i + 1) for i in range(len(MARKETS))]
        self.spark = [[self.rng.randrange(8) for _ in range(24)] for _ in MARKETS]
        self.step = 0

    def next(self) -> list[tuple[str, ...]]:
        """The table's text after one more update."""
        rng = self.rng
        self.step += 1
        rows: list[tuple[str, ...]] = []
        for i, market in enumerate(MARKETS):
            self.mids[i] += rng.uniform(-1, 1)
            mid = self.mids[i]
            spark = self.spark[i]
            spark.pop(0)
            spark.append(rng.randrange(8))
            rows.append(
                (
                    market,
                    "● LIVE",
                    f"{mid - 0.5:.2f}",
                    f"{mid + 0.5:.2f}",
                    "1.00",
                    f"{10_000 / mid:.2f}",
                    f"{mid:.3f}",
                    f"{mid + rng.uniform(-1, 1):.2f}",
                    f"{rng.uniform(-1, 1):+.2f}%",
                    f"{self.step * 1.37:.4f}",
                    f"{mid + 0.01:.4f}",
                    "".join(BLOCKS[v] for v in spark),
                    f"{rng.uniform(0, 1):.1f}s",
                )
            )
        return rows


class LineTable(Widget):
    """The Line-API table: one finished strip per row, only changed rows refreshed."""

    DEFAULT_CSS = "LineTable { height: 1fr; }"

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, ...]] = []
        self._strips: dict[int, Strip] = {}

    def show(self, rows: list[tuple[str, ...]]) -> None:
        """Refresh the rows whose text changed."""
        width = self.size.width
        old, self.rows = self.rows, rows
        for y, row in enumerate(rows):
            if y >= len(old) or old[y] != row:
                self._strips.pop(y + 1, None)
                self.refresh(Region(0, y + 1, width, 1))

    def _line(self, cells: tuple[str, ...], style: Style) -> Strip:
        text = " ".join(
            cell.rjust(width)[:width] if n > 1 else cell.ljust(width)[:width]
            for n, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
        )
        return Strip([Segment(text, style)]).crop_extend(0, self.size.width, style)

    def render_line(self, y: int) -> Strip:
        """The header, a row, or blank."""
        strip = self._strips.get(y)
        if strip is None:
            if y == 0:
                strip = self._line(tuple(name for name, _ in COLUMNS), Style(bold=True))
            elif y - 1 < len(self.rows):
                strip = self._line(self.rows[y - 1], Style())
            else:
                strip = Strip.blank(self.size.width)
            self._strips[y] = strip
        return strip


class TableApp(App[None]):
    """One table, updated :data:`HZ` times a second (or never, for the idle figure)."""

    CSS: ClassVar[str] = "DataTable { height: 1fr; }"

    def __init__(self, kind: str, updating: bool) -> None:
        super().__init__()
        self.kind = kind
        self.updating = updating
        self.source = Rows()
        self.shown = self.source.next()

    def compose(self) -> ComposeResult:
        if self.kind == "datatable":
            table: DataTable[str] = DataTable(cursor_type="row")
            yield table
        else:
            yield LineTable()

    def on_mount(self) -> None:
        if self.kind == "datatable":
            table = self.query_one(DataTable)
            for name, width in COLUMNS:
                table.add_column(name, width=width, key=name)
            for row in self.shown:
                table.add_row(*row, key=row[0])
        else:
            self.call_after_refresh(self.query_one(LineTable).show, self.shown)
        if self.updating:
            self.set_interval(1 / HZ, self._update)

    def _update(self) -> None:
        rows = self.source.next()
        if self.kind == "datatable":
            table = self.query_one(DataTable)
            for old, new in zip(self.shown, rows, strict=True):
                for (name, _), before, after in zip(COLUMNS, old, new, strict=True):
                    if before != after:
                        table.update_cell(new[0], name, after)
        else:
            self.query_one(LineTable).show(rows)
        self.shown = rows


async def _cpu(kind: str, updating: bool) -> float:
    app = TableApp(kind, updating)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        cpu0, start = time.process_time(), time.perf_counter()
        await asyncio.sleep(WINDOW)
        return (time.process_time() - cpu0) / (time.perf_counter() - start)


def run() -> None:
    """Each table's CPU at 4 updates/s, best of two rounds, and idle."""
    figures: dict[str, float] = {}
    for kind in ("datatable", "lineapi"):
        figures[kind] = min(asyncio.run(_cpu(kind, True)) for _ in range(2))
        figures[f"{kind}_idle"] = asyncio.run(_cpu(kind, False))
    base = figures["datatable"]
    report("watch_table_datatable_cpu", base * 100, "%core")
    report("watch_table_datatable_idle_cpu", figures["datatable_idle"] * 100, "%core")
    report(
        "watch_table_lineapi_cpu",
        figures["lineapi"] * 100,
        "%core",
        figures["lineapi"] / base,
        "DataTable",
    )
    report("watch_table_lineapi_idle_cpu", figures["lineapi_idle"] * 100, "%core")
