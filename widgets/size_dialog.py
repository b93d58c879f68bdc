"""SizeDialog: type any size to cost against the current market's book.

Accepts a base amount (``5``, ``0.25 BTC``) or a notional in the quote currency
(``$250000``, ``250000 USD``); Enter costs it, Escape cancels. Text that is not a size keeps
the dialog open with the reason (:func:`widgets.fill_panel.parse_size`).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input

from app.fills import FillSize
from widgets.fill_panel import parse_size, size_label, split_market
from widgets.form_dialog import FormDialog, form_bindings


class SizeDialog(FormDialog[FillSize | None]):
    """A modal form: one size field; dismissed with the size or None."""

    PREFIX = "size"
    CONFIRM = "Cost it"
    FIELD = "size-value"
    BINDINGS = form_bindings(PREFIX, CONFIRM)

    def __init__(self, market: str, current: FillSize) -> None:
        super().__init__()
        self.market = market
        self.current = current

    def heading(self) -> str:
        return f"Cost to fill in {self.market}"

    def fields(self) -> ComposeResult:
        """The size field, the size in use as its placeholder."""
        yield Input(placeholder=size_label(self.current, self.market), id=self.FIELD)

    def hint(self) -> str:
        """Examples in the market's own currencies."""
        base, quote = split_market(self.market)
        examples = (
            f"5 {base}".rstrip() + " (base) or $250000" + (f" / 250000 {quote}" if quote else "")
        )
        return f"a size, e.g. {examples} (quote)"

    def accept(self) -> FillSize:
        return parse_size(self.query_one(f"#{self.FIELD}", Input).value, self.market)
