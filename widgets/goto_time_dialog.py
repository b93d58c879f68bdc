"""GoToTimeDialog: type a time of the recording (UTC) and the replay goes there.

Accepts ``HH:MM:SS`` or ``HH:MM:SS.mmm``; Enter goes, Escape cancels. Bad text or a time
outside the recording keeps the dialog open with the reason
(:func:`app.replay.parse_time_of_day`).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from app.replay import format_clock, parse_time_of_day


class GoToTimeDialog(ModalScreen[int | None]):
    """A modal form: one time field; dismissed with the recording time (ns) or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="goto-cancel"),
        Binding("enter", "confirm", "Go", priority=True, id="goto-confirm"),
    ]

    def __init__(self, first_ns: int | None, last_ns: int | None, *, complete: bool) -> None:
        super().__init__()
        self.first_ns = first_ns
        self.last_ns = last_ns
        self.complete = complete
        """Whether ``last_ns`` is the recording's end (else: as far as it is indexed)."""
        self._refused: str | None = None
        """The text the error line speaks of."""

    def compose(self) -> ComposeResult:
        """Title, the time field, what the recording spans, an error line and buttons."""
        with Vertical(id="goto-dialog"):
            yield Label("Go to a time of the recording (UTC)", id="goto-title")
            yield Input(placeholder="HH:MM:SS or HH:MM:SS.mmm", id="goto-time")
            yield Label(self._span(), id="goto-hint")
            yield Label("", id="goto-error")
            with Horizontal(id="goto-buttons"):
                yield Button("Go", variant="primary", id="goto-ok")
                yield Button("Cancel", id="goto-cancel")

    def _span(self) -> str:
        if self.first_ns is None or self.last_ns is None:
            return "the recording has no records yet"
        span = f"{format_clock(self.first_ns)} to {format_clock(self.last_ns)} UTC"
        return f"the recording runs from {span}" + ("" if self.complete else " (so far)")

    def on_mount(self) -> None:
        """Start in the time field."""
        self.query_one("#goto-time", Input).focus()

    def action_confirm(self) -> None:
        """Enter: go if the time is one of the recording's, else say why not."""
        focused = self.focused
        if isinstance(focused, Button) and focused.id == "goto-cancel":
            self.dismiss(None)
            return
        text = self.query_one("#goto-time", Input).value
        result = parse_time_of_day(text, self.first_ns, self.last_ns)
        if isinstance(result, str):
            if not self.complete and "outside the recording" in result:
                result += " (still reading the file: try again in a moment)"
            self._refused = text
            self.query_one("#goto-error", Label).update(result)
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        """Escape: close without moving."""
        self.dismiss(None)

    @on(Button.Pressed, "#goto-ok")
    def _ok(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#goto-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Changed, "#goto-time")
    def _clear_error(self, event: Input.Changed) -> None:
        # Typing clears the reason; a change the field reports late (keys typed before
        # Enter, reported after it) is not a new text: the field still holds the refused
        # one. (Compared with the event's own value, a late report of a shorter text cleared
        # the reason just given: seen on a loaded machine.)
        if self.query_one("#goto-time", Input).value != self._refused:
            self.query_one("#goto-error", Label).update("")
