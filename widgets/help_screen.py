"""HelpScreen: every key binding of the dashboard (as remapped by the config) and what it does."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

HelpRow = tuple[str, str]
"""(keys as shown, what they do)."""


class HelpScreen(ModalScreen[None]):
    """A modal list of the bindings; any of Escape, ``?`` or ``q`` closes it."""

    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="help-close"),
    ]

    def __init__(self, rows: Sequence[HelpRow]) -> None:
        super().__init__()
        self.rows = list(rows)

    def compose(self) -> ComposeResult:
        """A table of keys and descriptions, and notes on what the screen shows."""
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for keys, description in self.rows:
            table.add_row(keys, description)
        notes = Text(
            "b* / s*: trade side inferred (the API gives none); ▮ marks a large trade. "
            "The tape, focused (e, a click, the wheel): ↑ ↓ PgUp PgDn scroll back, Home the "
            "oldest kept, End follows the newest again, Esc leaves it. "
            "States: ● live, ◐ on its way, ○ not current (STALE: kept from before a drop or "
            "resync), ✗ failed. Every action is also in the command palette (ctrl+p), the "
            "colour theme too; the config file's [dashboard] theme sets it at start. Keys "
            "can be remapped in the config file's [keys] table by binding id.",
        )
        with VerticalScroll(id="help"):
            yield Label("sordash — keys", id="help-title")
            yield Static(table, id="help-keys")
            yield Static(notes, id="help-notes")

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
