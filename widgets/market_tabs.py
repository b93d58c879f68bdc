"""MarketTabs: one line naming every subscribed market with its number, state and focus.

In the single-market layout it is the only sign of the other markets, so each shows its
state badge; the current market is highlighted. Keys ``1``-``9`` pick a market by number.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from widgets.quiet import QuietStatic, update_static

_BADGE_STYLE = {
    "AUTHENTICATING": "yellow",
    "CONNECTING": "yellow",
    "OFFLINE": "dim",
    "LIVE": "green",
    "SYNCING": "yellow",
    "RESYNC": "yellow",
    "STALE": "dim",
    "FAILED": "bold red",
    "LEAVING": "yellow",
    "NO BOOK": "dim",
}


class MarketTabs(QuietStatic):
    """``1 BTCUSD LIVE │ 2 ETHUSD SYNCING ...`` with the current market highlighted."""

    _shown: Text | None = None

    def show(self, entries: Sequence[tuple[str, str]], current: str | None, layout: str) -> None:
        """Render ``(market, badge)`` pairs; ``layout`` is ``single`` or ``grid``."""
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (market, badge) in enumerate(entries, start=1):
            if index > 1:
                text.append(" │ ", style="dim")
            is_current = market == current
            label = f" {index} {market} " if index <= 9 else f" {market} "
            text.append(label, style="bold reverse" if is_current else "bold")
            text.append(badge, style=_BADGE_STYLE.get(badge, ""))
        if entries:
            text.append(f"   [{layout}]", style="dim")
        self._shown = update_static(self, text, self._shown)
