"""FormDialog: the shape every small modal form of the dashboard shares.

A title, the form's own fields (:meth:`FormDialog.fields`), a hint, an error line and two
buttons. Enter (or the first button) checks the form with :meth:`FormDialog.accept`: a
value it cannot use raises :class:`ValueError`, whose message the error line shows while
the dialog stays open; a good one closes the dialog with the result. Escape (or Cancel, or
Enter while Cancel has focus) closes it with None. Typing clears the reason given.

Widget ids are the dialog's :attr:`FormDialog.PREFIX` followed by ``-dialog``, ``-title``,
``-hint``, ``-error``, ``-buttons``, ``-ok`` and ``-cancel``; the look is one rule set for
``FormDialog`` in ``styles/dashboard.tcss``.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

ResultT = TypeVar("ResultT")


def form_bindings(prefix: str, confirm: str) -> list[BindingType]:
    """Escape cancels; Enter (before any field sees it) does what the first button says."""
    return [
        Binding("escape", "cancel", "Cancel", id=f"{prefix}-cancel"),
        Binding("enter", "confirm", confirm, priority=True, id=f"{prefix}-confirm"),
    ]


class FormDialog(ModalScreen[ResultT]):
    """A modal form dismissed with what :meth:`accept` makes of it, or None."""

    PREFIX: ClassVar[str] = "form"
    """The start of every id in the dialog."""
    CONFIRM: ClassVar[str] = "OK"
    """What the first button says."""
    FIELD: ClassVar[str] = ""
    """The id of the input that has focus first ("" for the first focusable widget)."""

    def heading(self) -> str:
        """The dialog's first line."""
        raise NotImplementedError

    def fields(self) -> ComposeResult:
        """The form's own widgets, between the title and the hint."""
        raise NotImplementedError

    def hint(self) -> str:
        """The muted line under the fields."""
        return ""

    def accept(self) -> ResultT:
        """What the form says, or :class:`ValueError` saying what to change."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        """Title, the fields, a hint, an error line and the buttons."""
        prefix = self.PREFIX
        with Vertical(id=f"{prefix}-dialog", classes="form-dialog"):
            yield Label(self.heading(), id=f"{prefix}-title", classes="form-title")
            yield from self.fields()
            hint = Label(self.hint(), id=f"{prefix}-hint", classes="form-hint")
            hint.display = bool(self.hint())
            yield hint
            yield Label("", id=f"{prefix}-error", classes="form-error")
            with Horizontal(id=f"{prefix}-buttons", classes="form-buttons"):
                yield Button(self.CONFIRM, variant="primary", id=f"{prefix}-ok")
                yield Button("Cancel", id=f"{prefix}-cancel")

    def on_mount(self) -> None:
        """Start in the form's first field."""
        if self.FIELD:
            self.query_one(f"#{self.FIELD}", Input).focus()

    def refuse(self, reason: str) -> None:
        """Keep the dialog open, saying why."""
        self.query_one(f"#{self.PREFIX}-error", Label).update(reason)

    def action_confirm(self) -> None:
        """Enter: close with the form's result if it is good, else say why not."""
        focused = self.focused
        if isinstance(focused, Button) and focused.id == f"{self.PREFIX}-cancel":
            self.dismiss(None)
            return
        try:
            result = self.accept()
        except ValueError as exc:
            self.refuse(str(exc))
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        """Escape: close, nothing changed."""
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == f"{self.PREFIX}-ok":
            self.action_confirm()
        elif event.button.id == f"{self.PREFIX}-cancel":
            self.dismiss(None)

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        if self.still_refused(event.input):
            return
        self.refuse("")

    def still_refused(self, field: Input) -> bool:
        """Whether ``field`` still holds the text the error line speaks of (a change the
        field reports late is not new text); by default typing always clears the reason."""
        return False
