"""SubscribeDialog: choose a market and its channels; Enter confirms, Escape cancels.

The market field completes known markets (from the config and the server's answers) and
the form is validated before it closes: a plausible market name, not already subscribed,
at least one channel. Whether the market exists is the server's to say.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.suggester import SuggestFromList
from textual.widgets import Checkbox, Input, Label

from app.protocol import EXECUTION_DATA, MARKET_DATA
from widgets.form_dialog import FormDialog, form_bindings

SubscribeChoice = tuple[str, tuple[str, ...]]
"""(market, channel types) chosen in the dialog."""


def check_market(text: str) -> str | None:
    """Why ``text`` cannot be a market name, or None if it can (3-12 letters and digits)."""
    if not text:
        return "type a market, e.g. BTCUSD"
    if not (text.isascii() and text.isalnum()):
        return f"{text!r} is not a market name: letters and digits only"
    if not 3 <= len(text) <= 12:
        return "a market name has 3 to 12 characters"
    return None


class SubscribeDialog(FormDialog[SubscribeChoice | None]):
    """A modal form: market (with completion) and channel checkboxes."""

    PREFIX = "subscribe"
    CONFIRM = "Subscribe"
    FIELD = "market"
    BINDINGS = form_bindings(PREFIX, CONFIRM)

    def __init__(self, known_markets: Iterable[str], subscribed: Iterable[str]) -> None:
        super().__init__()
        self.known_markets = list(dict.fromkeys(known_markets))
        self.subscribed = set(subscribed)
        self.offered = [m for m in self.known_markets if m not in self.subscribed]

    def heading(self) -> str:
        return "Subscribe to a market"

    def fields(self) -> ComposeResult:
        """The market field (completing known markets), then the channels."""
        yield Input(
            placeholder="market, e.g. BTCUSD",
            suggester=SuggestFromList(self.offered or self.known_markets, case_sensitive=False),
            id=self.FIELD,
        )
        yield Label(
            "→ completes · known: " + (" ".join(self.offered) or "none"), classes="form-hint"
        )
        yield Checkbox("market_data — order book", True, id=MARKET_DATA)
        yield Checkbox("execution_data — trades", True, id=EXECUTION_DATA)

    def accept(self) -> SubscribeChoice:
        """The validated choice, or :class:`ValueError` saying what is wrong."""
        market = self.query_one(f"#{self.FIELD}", Input).value.strip().upper()
        problem = check_market(market)
        if problem is not None:
            raise ValueError(problem)
        if market in self.subscribed:
            raise ValueError(f"{market} is already subscribed")
        channels = tuple(
            ch for ch in (MARKET_DATA, EXECUTION_DATA) if self.query_one(f"#{ch}", Checkbox).value
        )
        if not channels:
            raise ValueError("choose at least one channel")
        return (market, channels)
