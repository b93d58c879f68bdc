"""MarketTabs: one line naming every subscribed market with its number, state and focus.

In the single-market layout it is the only sign of the other markets, so each shows its
state badge, from the same palette as the market's header (:mod:`widgets.palette`); the
current market is highlighted. Keys ``1``-``9`` pick a market by number.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from widgets.palette import TEXT_MUTED, badge_class, badge_label
from widgets.quiet import StyledStatic


class MarketTabs(StyledStatic):
    """``1 BTCUSD ● LIVE │ 2 ETHUSD ◐ SYNCING ...`` with the current market highlighted."""

    def show(self, entries: Sequence[tuple[str, str]], current: str | None, layout: str) -> None:
        """Render ``(market, badge)`` pairs; ``layout`` is ``single`` or ``grid``."""
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (market, badge) in enumerate(entries, start=1):
            if index > 1:
                # One space each side of the bar comes from the badge's and the label's
                # padding: the glyphs cost two cells a tab, and four tabs still fit 80 columns.
                text.append(" │", style=TEXT_MUTED)
            is_current = market == current
            label = f" {index} {market} " if index <= 9 else f" {market} "
            text.append(label, style="bold reverse" if is_current else "bold")
            text.append(badge_label(badge), style=badge_class(badge))
        if entries:
            text.append(f"  [{layout}]", style=TEXT_MUTED)
        self.show_text(text)
