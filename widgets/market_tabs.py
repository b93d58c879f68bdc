"""MarketTabs: one line naming every subscribed market with its number, state and focus.

In the single-market layout it is the only sign of the other markets, so each shows its
state badge, from the same palette as the market's header (:mod:`widgets.palette`); the
current market is highlighted. Keys ``1``-``9`` pick a market by number. When the grid has
more markets than it shows, the tabs say which page is on screen and mute the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from rich.text import Text

from widgets.palette import TEXT_MUTED, badge_class, badge_label
from widgets.quiet import StyledStatic


class GridPage(NamedTuple):
    """The grid's page on screen, when it has several."""

    number: int
    """The page shown, 1-based."""
    pages: int
    markets: frozenset[str]
    """The markets on it."""


class MarketTabs(StyledStatic):
    """``1 BTCUSD ● LIVE │ 2 ETHUSD ◐ SYNCING ...`` with the current market highlighted."""

    def show(
        self,
        entries: Sequence[tuple[str, str]],
        current: str | None,
        layout: str,
        page: GridPage | None = None,
    ) -> None:
        """Render ``(market, badge)`` pairs; ``layout`` is ``single``, ``grid`` or
        ``watchlist``. With a ``page`` (the grid has several) the markets of the other
        pages are muted and the layout says which page is shown: ``[grid · page 1/2]``."""
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (market, badge) in enumerate(entries, start=1):
            if index > 1:
                # One space each side of the bar comes from the badge's and the label's
                # padding: the glyphs cost two cells a tab, and four tabs still fit 80 columns.
                text.append(" │", style=TEXT_MUTED)
            is_current = market == current
            elsewhere = page is not None and market not in page.markets
            label = f" {index} {market} " if index <= 9 else f" {market} "
            style = "bold reverse" if is_current else TEXT_MUTED if elsewhere else "bold"
            text.append(label, style=style)
            text.append(badge_label(badge), style=badge_class(badge))
        if entries:
            where = layout if page is None else f"{layout} · page {page.number}/{page.pages}"
            text.append(f"  [{where}]", style=TEXT_MUTED)
        self.show_text(text)
