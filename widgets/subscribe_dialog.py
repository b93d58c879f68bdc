"""SubscribeDialog: choose a market and its channels; Enter confirms, Escape cancels.

The market field completes known markets (from the config and the server's answers) and
the form is validated before it closes: a plausible market name, not already subscribed,
at least one channel. Whether the market exists is the server's to say.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label

from app.protocol import EXECUTION_DATA, MARKET_DATA

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


class SubscribeDialog(ModalScreen[SubscribeChoice | None]):
    """A modal form: market (with completion) and channel checkboxes."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog-cancel"),
        Binding("enter", "confirm", "Subscribe", priority=True, id="dialog-confirm"),
    ]

    def __init__(self, known_markets: Iterable[str], subscribed: Iterable[str]) -> None:
        super().__init__()
        self.known_markets = list(dict.fromkeys(known_markets))
        self.subscribed = set(subscribed)

    def compose(self) -> ComposeResult:
        """Title, market field, channel choices, error line and buttons."""
        offered = [m for m in self.known_markets if m not in self.subscribed]
        with Vertical(id="dialog"):
            yield Label("Subscribe to a market", id="dialog-title")
            yield Input(
                placeholder="market, e.g. BTCUSD",
                suggester=SuggestFromList(offered or self.known_markets, case_sensitive=False),
                id="market",
            )
            yield Label(
                "→ completes · known: " + (" ".join(offered) if offered else "none"),
                id="dialog-hint",
            )
            yield Checkbox("market_data — order book", True, id="market_data")
            yield Checkbox("execution_data — trades", True, id="execution_data")
            yield Label("", id="dialog-error")
            with Horizontal(id="dialog-buttons"):
                yield Button("Subscribe", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        """Start in the market field."""
        self.query_one("#market", Input).focus()

    def choice(self) -> SubscribeChoice | str:
        """The validated choice, or the reason the form cannot be accepted."""
        market = self.query_one("#market", Input).value.strip().upper()
        problem = check_market(market)
        if problem is not None:
            return problem
        if market in self.subscribed:
            return f"{market} is already subscribed"
        channels = tuple(
            ch for ch in (MARKET_DATA, EXECUTION_DATA) if self.query_one(f"#{ch}", Checkbox).value
        )
        if not channels:
            return "choose at least one channel"
        return (market, channels)

    def action_confirm(self) -> None:
        """Enter: accept the form if it is valid, else say what is wrong."""
        focused = self.focused
        if isinstance(focused, Button) and focused.id == "cancel":
            self.dismiss(None)
            return
        result = self.choice()
        if isinstance(result, str):
            self.query_one("#dialog-error", Label).update(result)
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        """Escape: close without subscribing."""
        self.dismiss(None)

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Changed, "#market")
    def _clear_error(self) -> None:
        self.query_one("#dialog-error", Label).update("")
