"""GoToTimeDialog: type a time of the recording (UTC) and the replay goes there.

Accepts ``HH:MM:SS`` or ``HH:MM:SS.mmm``; Enter goes, Escape cancels. Bad text or a time
outside the recording keeps the dialog open with the reason
(:func:`app.replay.parse_time_of_day`).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input

from app.replay import format_clock, parse_time_of_day
from widgets.form_dialog import FormDialog, form_bindings


class GoToTimeDialog(FormDialog[int | None]):
    """A modal form: one time field; dismissed with the recording time (ns) or None."""

    PREFIX = "goto"
    CONFIRM = "Go"
    FIELD = "goto-time"
    BINDINGS = form_bindings(PREFIX, CONFIRM)

    def __init__(self, first_ns: int | None, last_ns: int | None, *, complete: bool) -> None:
        super().__init__()
        self.first_ns = first_ns
        self.last_ns = last_ns
        self.complete = complete
        """Whether ``last_ns`` is the recording's end (else: as far as it is indexed)."""
        self._refused: str | None = None
        """The text the error line speaks of."""

    def heading(self) -> str:
        return "Go to a time of the recording (UTC)"

    def fields(self) -> ComposeResult:
        yield Input(placeholder="HH:MM:SS or HH:MM:SS.mmm", id=self.FIELD)

    def hint(self) -> str:
        """What the recording spans."""
        if self.first_ns is None or self.last_ns is None:
            return "the recording has no records yet"
        span = f"{format_clock(self.first_ns)} to {format_clock(self.last_ns)} UTC"
        return f"the recording runs from {span}" + ("" if self.complete else " (so far)")

    def accept(self) -> int:
        text = self.query_one(f"#{self.FIELD}", Input).value
        result = parse_time_of_day(text, self.first_ns, self.last_ns)
        if isinstance(result, str):
            if not self.complete and "outside the recording" in result:
                result += " (still reading the file: try again in a moment)"
            self._refused = text
            raise ValueError(result)
        return result

    def still_refused(self, field: Input) -> bool:
        # A change the field reports late (keys typed before Enter, reported after it) is
        # not a new text: the field still holds the refused one. (Compared with the event's
        # own value, a late report of a shorter text cleared the reason just given: seen on
        # a loaded machine.)
        return field.value == self._refused
