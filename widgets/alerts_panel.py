"""AlertsPanel: every alert rule with its state, and keys to mute, re-arm and delete.

One row per rule of the :class:`~app.alerts.AlertEngine`, config rules first: its id, where
it was defined (config or runtime), its state (``● armed``, ``▲ fired``, ``○ muted``: a
glyph and a word, never colour alone), the rule in words, when it last fired (UTC, to the
millisecond) with the value that fired it, and how often it fired this session. A
handful of rows changing a few times a minute: a ``DataTable`` is cheap enough here (the
ladders' Line API is for data rates). The rows follow the engine twice a second while the
panel is open, so an alert that fires meanwhile shows at once.

``m`` mutes or unmutes the row's rule, ``r`` re-arms it, ``d`` deletes it (a config rule is
refused with the engine's reason: it would come back at the next start), Escape closes.
A change the alerts file cannot take holds for the session, and the panel says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from app.alerts import AlertEngine, AlertError, AlertState, AlertStatus
from app.replay import format_clock
from app.state_file import StateFileError
from styles import STYLES_DIR

STATE_LABELS: dict[AlertState, str] = {
    AlertState.ARMED: "● armed",
    AlertState.FIRED: "▲ fired",
    AlertState.MUTED: "○ muted",
}
"""Each state as the panel shows it: a glyph and a word."""
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("origin", "from"),
    ("state", "state"),
    ("rule", "alert"),
    ("fired", "fired (UTC)"),
    ("value", "value"),
    ("count", "times"),
)
"""(column key, heading)."""
REFRESH_EVERY = 0.5
"""Seconds between two looks at the engine while the panel is open."""


def status_cells(status: AlertStatus, fired_at_ns: int | None) -> dict[str, str | Text]:
    """One rule's row, by column key; ``fired_at_ns`` is when it last fired (UTC ns)."""
    last = status.last
    fired = "—" if last is None or fired_at_ns is None else format_clock(fired_at_ns)
    value = ""
    if last is not None:
        value = f"{last.market} {last.value}" if last.market else last.value
    state = STATE_LABELS[status.state]
    return {
        "id": status.id,
        "origin": status.origin.value,
        "state": Text(state, style="bold") if status.state is AlertState.FIRED else state,
        "rule": status.rule.describe(),
        "fired": fired,
        "value": value,
        "count": str(status.fired),
    }


class AlertsPanel(ModalScreen[None]):
    """A modal table of the alert rules; its keys act on the highlighted row."""

    CSS_PATH = STYLES_DIR / "alerts.tcss"
    AUTO_FOCUS = "#alerts-table"
    BINDINGS = [
        Binding("m", "mute", "Mute / unmute", id="alerts-mute"),
        Binding("r", "rearm", "Re-arm", id="alerts-rearm"),
        Binding("d", "delete", "Delete", id="alerts-delete"),
        Binding("escape,A", "close", "Close", id="alerts-close"),
    ]

    def __init__(
        self, engine: AlertEngine, fired_at: Callable[[], Mapping[str, int]] | None = None
    ) -> None:
        super().__init__()
        self.engine = engine
        self.fired_at = fired_at or (lambda: {})
        """When each rule last fired (rule id -> UTC ns), as the dashboard noted it."""
        self._shown: dict[str, dict[str, str | Text]] = {}

    def compose(self) -> ComposeResult:
        """Title, the table, a message line and the keys."""
        with Vertical(id="alerts-panel"):
            yield Label("Alerts", id="alerts-title")
            table: DataTable[str | Text] = DataTable(
                id="alerts-table", cursor_type="row", zebra_stripes=True
            )
            for key, heading in COLUMNS:
                table.add_column(heading, key=key)
            yield table
            yield Label("", id="alerts-message")
            yield Label(
                "m mute/unmute · r re-arm · d delete (runtime alerts) · Esc close",
                id="alerts-hint",
            )

    def on_mount(self) -> None:
        """Fill the table and keep it current while open."""
        self.refresh_rows()
        if not self._shown:
            self.say("No alerts yet: a (on the dashboard) makes one for the current market.")
        self.set_interval(REFRESH_EVERY, self.refresh_rows)

    def refresh_rows(self) -> None:
        """Show the engine's rules as they are now: changed cells only, rows added and
        removed in place (the highlighted row stays where it was)."""
        table: DataTable[str | Text] = self.query_one(DataTable)
        statuses = self.engine.statuses()
        fired_at = self.fired_at()
        wanted = {s.id: status_cells(s, fired_at.get(s.id)) for s in statuses}
        for gone in [rule_id for rule_id in self._shown if rule_id not in wanted]:
            table.remove_row(gone)
            del self._shown[gone]
        for rule_id, cells in wanted.items():
            shown = self._shown.get(rule_id)
            if shown is None:
                table.add_row(*(cells[key] for key, _ in COLUMNS), key=rule_id)
            else:
                for key, value in cells.items():
                    if shown[key] != value:
                        table.update_cell(rule_id, key, value, update_width=True)
            self._shown[rule_id] = cells

    @property
    def message(self) -> str:
        """What the message line says now."""
        return str(self.query_one("#alerts-message", Label).content)

    def say(self, text: str) -> None:
        """Put ``text`` on the message line (the reason a key did nothing, or its result)."""
        self.query_one("#alerts-message", Label).update(text)

    def selected(self) -> str | None:
        """The highlighted rule's id (None: no rules)."""
        table: DataTable[str | Text] = self.query_one(DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0))
        return row_key.value

    def _act(self, what: Callable[[str], str]) -> None:
        rule_id = self.selected()
        if rule_id is None:
            return
        try:
            self.say(what(rule_id))
        except AlertError as exc:
            self.say(str(exc))
        except StateFileError as exc:
            self.say(f"{exc}: the change holds for this session only")
        self.refresh_rows()

    def action_mute(self) -> None:
        """Mute the highlighted rule, or unmute it (it then starts afresh)."""

        def toggle(rule_id: str) -> str:
            if self.engine.status(rule_id).state is AlertState.MUTED:
                self.engine.unmute(rule_id)
                return f"{rule_id} unmuted: armed again"
            self.engine.mute(rule_id)
            return f"{rule_id} muted: not evaluated until unmuted"

        self._act(toggle)

    def action_rearm(self) -> None:
        """Re-arm the highlighted rule: it fires again when its condition is met."""

        def rearm(rule_id: str) -> str:
            self.engine.rearm(rule_id)
            return f"{rule_id} re-armed"

        self._act(rearm)

    def action_delete(self) -> None:
        """Delete the highlighted rule (a runtime one; config rules are refused)."""

        def delete(rule_id: str) -> str:
            described = self.engine.status(rule_id).rule.describe()
            self.engine.delete(rule_id)
            return f"{rule_id} deleted ({described})"

        self._act(delete)

    def action_close(self) -> None:
        """Close the panel."""
        self.dismiss(None)
