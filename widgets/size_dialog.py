"""SizeDialog: type any size to cost against the current market's book.

Accepts a base amount (``5``, ``0.25 BTC``) or a notional in the quote currency
(``$250000``, ``250000 USD``); Enter costs it, Escape cancels. Text that is not a size keeps
the dialog open with the reason (:func:`widgets.fill_panel.parse_size`).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from app.fills import FillSize
from widgets.fill_panel import parse_size, size_label, split_market


class SizeDialog(ModalScreen[FillSize | None]):
    """A modal form: one size field; dismissed with the size or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="size-cancel"),
        Binding("enter", "confirm", "Cost it", priority=True, id="size-confirm"),
    ]

    def __init__(self, market: str, current: FillSize) -> None:
        super().__init__()
        self.market = market
        self.current = current

    def compose(self) -> ComposeResult:
        """Title, the size field, a hint naming the market's currencies, an error line."""
        base, quote = split_market(self.market)
        with Vertical(id="size-dialog"):
            yield Label(f"Cost to fill in {self.market}", id="size-title")
            yield Input(placeholder=size_label(self.current, self.market), id="size-value")
            examples = (
                f"5 {base}".rstrip()
                + " (base) or $250000"
                + (f" / 250000 {quote}" if quote else "")
            )
            yield Label(f"a size, e.g. {examples} (quote)", id="size-hint")
            yield Label("", id="size-error")
            with Horizontal(id="size-buttons"):
                yield Button("Cost it", variant="primary", id="size-ok")
                yield Button("Cancel", id="size-cancel")

    def on_mount(self) -> None:
        """Start in the size field."""
        self.query_one("#size-value", Input).focus()

    def action_confirm(self) -> None:
        """Enter: cost the size if it is one, else say why not."""
        focused = self.focused
        if isinstance(focused, Button) and focused.id == "size-cancel":
            self.dismiss(None)
            return
        text = self.query_one("#size-value", Input).value
        try:
            size = parse_size(text, self.market)
        except ValueError as exc:
            self.query_one("#size-error", Label).update(str(exc))
            return
        self.dismiss(size)

    def action_cancel(self) -> None:
        """Escape: close, the size unchanged."""
        self.dismiss(None)

    @on(Button.Pressed, "#size-ok")
    def _ok(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#size-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Changed, "#size-value")
    def _clear_error(self) -> None:
        self.query_one("#size-error", Label).update("")
