"""MinSizeDialog: type the smallest trade a market's tape shows; empty shows every trade.

The size is in the market's base units (``0.5`` BTC on BTCUSD). Enter sets it, Escape
cancels; text that is not a size keeps the dialog open with the reason
(:func:`app.tape.parse_min_size`).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input

from app.tape import parse_min_size
from widgets.form_dialog import FormDialog, form_bindings


class MinSizeDialog(FormDialog[str | None]):
    """A modal form: one size field; dismissed with the size ("" for none) or None."""

    PREFIX = "min-size"
    CONFIRM = "Set"
    FIELD = "min-size"
    BINDINGS = form_bindings(PREFIX, CONFIRM)

    def __init__(self, market: str, current: str) -> None:
        super().__init__()
        self.market = market
        self.current = current
        """The size in effect ("" for none), the field's starting text."""

    def heading(self) -> str:
        return f"Smallest trade on the {self.market} tape"

    def fields(self) -> ComposeResult:
        """The size field, starting with the size in effect."""
        yield Input(self.current, placeholder="e.g. 0.5 (empty: every trade)", id=self.FIELD)

    def hint(self) -> str:
        return "in base units · aggregated, a row's summed amount counts · empty clears"

    def accept(self) -> str:
        return parse_min_size(self.query_one(f"#{self.FIELD}", Input).value)
