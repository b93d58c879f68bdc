"""MinSizeDialog: type the smallest trade a market's tape shows; empty shows every trade.

The size is in the market's base units (``0.5`` BTC on BTCUSD). Enter sets it, Escape
cancels; text that is not a size keeps the dialog open with the reason
(:func:`app.tape.parse_min_size`).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from app.tape import parse_min_size


class MinSizeDialog(ModalScreen[str | None]):
    """A modal form: one size field; dismissed with the size ("" for none) or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="min-size-cancel"),
        Binding("enter", "confirm", "Set", priority=True, id="min-size-confirm"),
    ]

    def __init__(self, market: str, current: str) -> None:
        super().__init__()
        self.market = market
        self.current = current
        """The size in effect ("" for none), the field's starting text."""

    def compose(self) -> ComposeResult:
        """Title, the size field, a hint, an error line and buttons."""
        with Vertical(id="min-size-dialog"):
            yield Label(f"Smallest trade on the {self.market} tape", id="min-size-title")
            yield Input(self.current, placeholder="e.g. 0.5 (empty: every trade)", id="min-size")
            yield Label(
                "in base units · aggregated, a row's summed amount counts · empty clears",
                id="min-size-hint",
            )
            yield Label("", id="min-size-error")
            with Horizontal(id="min-size-buttons"):
                yield Button("Set", variant="primary", id="min-size-ok")
                yield Button("Cancel", id="min-size-cancel")

    def on_mount(self) -> None:
        """Start in the size field."""
        self.query_one("#min-size", Input).focus()

    def action_confirm(self) -> None:
        """Enter: set the size if it is one, else say why not."""
        focused = self.focused
        if isinstance(focused, Button) and focused.id == "min-size-cancel":
            self.dismiss(None)
            return
        try:
            size = parse_min_size(self.query_one("#min-size", Input).value)
        except ValueError as exc:
            self.query_one("#min-size-error", Label).update(str(exc))
            return
        self.dismiss(size)

    def action_cancel(self) -> None:
        """Escape: close, the size unchanged."""
        self.dismiss(None)

    @on(Button.Pressed, "#min-size-ok")
    def _ok(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#min-size-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Changed, "#min-size")
    def _clear_error(self) -> None:
        self.query_one("#min-size-error", Label).update("")
